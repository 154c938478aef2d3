// The real WatermelonDB client against eddy: first sync (the pull's shape and types), push of
// creates / updates / deletes, a second device that sees them, and writes from another SQL writer
// (psql) that reach both devices, including a hard DELETE as a tombstone. Ends with
// diagnoseSyncConsistency on both devices.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, updateTask, deleteTask, localRows, localRow, serverRows,
  expectClientEqualsServer, checkNoClientErrors, waitUntil, psql, log, fail, show, lit,
} from './wmlib.mjs';

overallTimeout(120);
const T = 'wm_tasks';
const run = newId().slice(0, 6);

// Rows written by psql before any client exists: every mapped type once.
const seed = [newId(), newId(), newId()];
await psql(
  `INSERT INTO ${T} (id, title, done, estimate, meta, created_at, updated_at) VALUES ` +
    `(${lit(seed[0])}, 'seed one', true, 1.5, '{"tags":["a","b"],"n":1}', '2024-01-02T03:04:05.678Z', '2024-01-02T03:04:05.678Z'),` +
    `(${lit(seed[1])}, 'seed two', false, NULL, NULL, now(), now()),` +
    `(${lit(seed[2])}, 'it''s "quoted" ✓', false, 0, '[1,2,3]', now(), now());` +
    // enough rows that a first sync is worth compressing
    ` INSERT INTO ${T} (id, title) SELECT 'bulk' || substr(md5(random()::text), 1, 12), 'bulk ' || g FROM generate_series(1, 100) g`,
);

// --- first sync ------------------------------------------------------------------------------
const a = new Client(makeDatabase({ tables: [T] }), `dev-a-${run}`);
await a.sync();
const first = a.lastPull();
assert(first.lastPulledAt === null, `first pull must send last_pulled_at=null, sent ${first.lastPulledAt}`);
const ts = first.response.timestamp;
assert(Number.isInteger(ts) && ts > 0 && ts <= Number.MAX_SAFE_INTEGER, `first pull timestamp must be an integer in (0, 2^53): ${show(first.response)}`);
for (const [table, c] of Object.entries(first.response.changes)) {
  assert(Array.isArray(c.created) && Array.isArray(c.updated) && Array.isArray(c.deleted),
    `pull: table ${table} must have created, updated and deleted arrays: ${show(c)}`);
}
assert(first.response.changes[T], `pull must include every configured table, ${T} missing: ${show(first.response)}`);
assert(first.response.changes[T].deleted.length === 0, `a first sync sends deleted: [], got ${show(first.response.changes[T].deleted)}`);
for (const raw of [...first.response.changes[T].created, ...first.response.changes[T].updated]) {
  assert(typeof raw.id === 'string', `ids must be JSON strings: ${show(raw)}`);
  assert(!('_status' in raw) && !('_changed' in raw), `pull must not send _status/_changed: ${show(raw)}`);
}
// The seed may be committed after eddy's watermark; it must arrive by a later pull at the latest.
await waitUntil(async () => {
  const local = await localRows(a.db, T);
  if (seed.every((id) => local.has(id))) return true;
  await a.sync();
  return false;
}, 'the seeded rows on the first device');
const s0 = await localRow(a.db, T, seed[0]);
assert(s0.title === 'seed one' && s0.done === true && s0.estimate === 1.5 && s0.created_at === Date.parse('2024-01-02T03:04:05.678Z'),
  `types: bool, float and timestamptz -> epoch ms: ${show(s0)}`);
assert(typeof s0.meta === 'string' && JSON.parse(s0.meta).tags[1] === 'b', `jsonb travels as a JSON string: ${show(s0)}`);
assert((await localRow(a.db, T, seed[2])).title === `it's "quoted" ✓`, 'quotes and non-ASCII text survive');
await expectClientEqualsServer(a, T);
const big = a.pulls.find((p) => JSON.stringify(p.response).length > 4096);
assert(big && big.encoding === 'gzip', `a large pull is gzip-compressed for a client that accepts it: ${big?.encoding}`);
log('first sync ok');

// --- push: creates, updates, deletes --------------------------------------------------------
const mine = [];
for (let i = 0; i < 3; i++) {
  const r = await createTask(a.db, T, { title: `a created ${i}`, done: i === 1, estimate: i * 2, meta: JSON.stringify({ i, run }) });
  mine.push(r.id);
}
await a.sync();
const push1 = a.lastPush();
assert(push1 && push1.status === 200, `push of creates: 200 expected, got ${show(push1)}`);
assert(push1.response && typeof push1.response === 'object' && !push1.response.experimentalRejectedIds,
  `push of valid creates: a JSON object without rejected ids, got ${show(push1.response)}`);
let server = await serverRows(T);
for (const [i, id] of mine.entries()) {
  const s = server.get(id);
  assert(s && s.title === `a created ${i}` && s.done === (i === 1) && s.estimate === i * 2 && JSON.parse(s.meta).run === run,
    `created row ${id} on the server: ${show(s)}`);
}
await updateTask(a.db, T, mine[0], { title: 'a updated 0' });
await updateTask(a.db, T, seed[1], { done: true, estimate: 7 });
await deleteTask(a.db, T, mine[2]);
await deleteTask(a.db, T, seed[2]);
await a.sync();
server = await serverRows(T);
assert(server.get(mine[0])?.title === 'a updated 0', `update reached the server: ${show(server.get(mine[0]))}`);
assert(server.get(seed[1])?.done === true && server.get(seed[1])?.estimate === 7, `update of a psql row: ${show(server.get(seed[1]))}`);
assert(!server.has(mine[2]) && !server.has(seed[2]), 'deletes reached the server');
await a.sync(); // our own writes come back once (WatermelonDB's limitation 2), normalised
await expectClientEqualsServer(a, T);
log('push of creates / updates / deletes ok');

// --- a second device -------------------------------------------------------------------------
const b = new Client(makeDatabase({ tables: [T] }), `dev-b-${run}`);
await b.sync();
await expectClientEqualsServer(b, T);
assert(!(await localRow(b.db, T, mine[2])), 'a deleted row must not reach a new device');
const bFirst = b.lastPull().response.changes[T];
assert(bFirst.deleted.length === 0, `first sync of the second device: deleted [] (got ${show(bFirst.deleted)})`);

const fromA = await createTask(a.db, T, { title: 'a for b' });
await updateTask(a.db, T, mine[1], { title: 'a changed 1 for b' });
await deleteTask(a.db, T, mine[0]);
await a.sync();
await b.sync();
const bPull = b.lastPull().response.changes[T];
assert(bPull.created.some((r) => r.id === fromA.id), `b must get a's new row as created: ${show(bPull)}`);
assert(bPull.updated.some((r) => r.id === mine[1] && r.title === 'a changed 1 for b'), `b must get a's update as updated: ${show(bPull)}`);
assert(bPull.deleted.includes(mine[0]), `b must get a's delete: ${show(bPull)}`);
await expectClientEqualsServer(b, T);
log('second device ok');

// --- another SQL writer ----------------------------------------------------------------------
const sqlId = `sql${newId().slice(3)}`;
await psql(`INSERT INTO ${T} (id, title, meta) VALUES (${lit(sqlId)}, 'from psql', '{"by":"psql"}')`);
await psql(`UPDATE ${T} SET title = 'psql renamed', done = NOT done WHERE id = ${lit(mine[1])}`);
await psql(`DELETE FROM ${T} WHERE id = ${lit(seed[0])}`);
for (const dev of [a, b]) {
  await waitUntil(async () => {
    await dev.sync();
    const local = await localRows(dev.db, T);
    return local.get(sqlId)?.title === 'from psql' && local.get(mine[1])?.title === 'psql renamed' && !local.has(seed[0]);
  }, `${dev.name}: the psql insert, update and delete`);
  await expectClientEqualsServer(dev, T);
}
const sawDelete = b.pulls.some((p) => p.response?.changes?.[T]?.deleted?.includes(seed[0]));
assert(sawDelete, `the psql DELETE must reach b as a tombstone in deleted (pulls: ${show(b.pulls.slice(-3))})`);
log('psql writer ok');

for (const dev of [a, b]) {
  const d = await dev.diagnose();
  if (d.issueCount !== 0) fail(`${dev.name}: diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
}
checkNoClientErrors();
pass('first sync, push, second device, psql writer');
