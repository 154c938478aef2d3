// Every commit at or below a pull's timestamp must be in that pull. WRITERS psql loops commit
// single-row inserts and updates as fast as they can for VIS_SECONDS while STEADY clients sync in
// a tight loop and fresh clients make first syncs at random moments. A pull that hands out a
// timestamp covering a commit its snapshot cannot see yet (PostgreSQL makes a commit visible a
// moment after its WAL record, which the change stream may already have delivered) loses that
// change for good. After the writers stop, every client syncs once more and must equal the server.
import { overallTimeout, pass } from '../lib.mjs';
import {
  Client, makeDatabase, newId, localRows, serverRows, rowDiff, checkNoClientErrors, clientErrors,
  psql, log, fail, sleep, lit,
} from './wmlib.mjs';

// VIS_CHECK: `stale` fails only on stale or missing rows, `recreated` only on rows sent twice as
// created, `all` (the default) on both.
const CHECK = process.env.VIS_CHECK || 'all';
if (!['all', 'stale', 'recreated'].includes(CHECK)) fail(`VIS_CHECK must be all, stale or recreated, not ${CHECK}`);
const SECONDS = Number(process.env.VIS_SECONDS || 10);
const WRITERS = Number(process.env.WRITERS || 4);
overallTimeout(SECONDS + 90);
const T = 'wm_visible';
const run = newId().slice(0, 6);
const deadline = Date.now() + SECONDS * 1000;
const sqlHistory = [];

async function writer(w) {
  const someId = `(SELECT id FROM ${T} ORDER BY random() LIMIT 1)`;
  for (let i = 0; Date.now() < deadline; i++) {
    const sql = i % 2 === 0
      ? `INSERT INTO ${T} (id, title) VALUES (${lit(newId())}, 'w${w} insert ${i}') RETURNING id`
      : `UPDATE ${T} SET title = 'w${w} update ${i}', updated_at = now() WHERE id = ${someId} RETURNING id`;
    const started = performance.now();
    const out = (await psql(sql)).trim();
    if (out) sqlHistory.push({ started, ended: performance.now(), id: out, sql });
  }
}

const STEADY = Number(process.env.STEADY || 2);
const steadies = Array.from({ length: STEADY }, (_, i) =>
  new Client(makeDatabase({ tables: [T] }), `vis-steady${i}-${run}`, { keepAll: true }));
const fresh = [];
async function steadyLoop(c) {
  while (Date.now() < deadline) await c.sync();
}
async function freshLoop() {
  for (let i = 0; Date.now() < deadline; i++) {
    await sleep(200 + Math.random() * 600);
    const c = new Client(makeDatabase({ tables: [T] }), `vis-fresh${i}-${run}`, { keepAll: true });
    fresh.push(c);
    await c.sync(); // a first sync in the middle of the writes
    await c.sync();
  }
}

await psql(`INSERT INTO ${T} (id, title) VALUES (${lit(newId())}, 'first row')`);
await Promise.all([...steadies.map(steadyLoop), freshLoop(), ...Array.from({ length: WRITERS }, (_, w) => writer(w))]);
log(`${sqlHistory.length} SQL commits, ${steadies.reduce((n, c) => n + c.pulls.length, 0)} steady pulls, ${fresh.length} fresh clients`);
await sleep(500);

const server = await serverRows(T);
const problems = [];
for (const c of [...steadies, ...fresh]) {
  await c.sync();
  const local = await localRows(c.db, T);
  for (const [id, s] of server) {
    const l = local.get(id);
    if (!l) problems.push({ c, id, what: 'missing on the client' });
    else if (rowDiff(l, s).length) problems.push({ c, id, what: rowDiff(l, s).join('; ') });
  }
  for (const id of local.keys()) if (!server.has(id)) problems.push({ c, id, what: 'on the client only' });
}
// WatermelonDB's own complaints name records too ("... record wm_visible#<id> ..."): explain them.
for (const e of clientErrors) {
  const id = /#([0-9a-zA-Z]{16})/.exec(e)?.[1];
  // The client that complained got the record at least twice.
  const c = [...steadies, ...fresh].find((x) => x.historyOf(T, id).filter((l) => l.includes(id)).length >= 2);
  if (id && c) problems.push({ c, id, what: `WatermelonDB: ${e.slice(0, 120)}` });
}
const twice = problems.filter((p) => p.what.startsWith('WatermelonDB')).length;
const stale = problems.length - twice;
log(`${stale} row(s) stale or missing, ${twice} row(s) sent twice as created`);
const counted = problems.filter((p) => CHECK === 'all' || (CHECK === 'recreated') === p.what.startsWith('WatermelonDB'));
if (counted.length) {
  const lines = counted.slice(0, 6).map(({ c, id, what }) => {
    const sql = sqlHistory.filter((h) => h.id === id).map((h) => `    sql @${h.started.toFixed(0)}-${h.ended.toFixed(0)} ms: ${h.sql}`);
    return [`${c.name} ${id}: ${what}`, ...sql, ...c.historyOf(T, id).map((l) => `    ${l}`)].join('\n');
  });
  fail(`${stale} row(s) stale or missing on a client after the writers stopped (a pull's ` +
    `timestamp covered a commit its snapshot did not see), ${twice} row(s) sent as created to a client ` +
    `that had them (a first sync sent rows above its timestamp):\n${lines.join('\n')}`);
}
if (CHECK !== 'stale') checkNoClientErrors();
pass(`${sqlHistory.length} commits; ${STEADY} steady and ${fresh.length} fresh clients equal the server`);
