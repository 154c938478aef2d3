// A row committed late by a slow transaction still reaches the client (the seed's sequence bug,
// spec 1.3): T1 inserts and stays open; T2 inserts and commits; the client pulls until it has T2's
// row (its watermark is now past T2's commit); then T1 commits. A version taken at INSERT time
// would put T1's row below the client's watermark forever; eddy's commit-ordered versions must
// deliver it. The same for an UPDATE and a DELETE held open.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, localRows, expectClientEqualsServer, checkNoClientErrors, waitUntil,
  OpenTransaction, psql, log, fail, lit, sleep,
} from './wmlib.mjs';

overallTimeout(120);
const T = 'wm_slow';
const client = new Client(makeDatabase({ tables: [T] }), `slow-${newId().slice(0, 6)}`);
const [updId, delId] = [`upd${newId().slice(3)}`, `del${newId().slice(3)}`];
await psql(`INSERT INTO ${T} (id, title) VALUES (${lit(updId)}, 'before'), (${lit(delId)}, 'to delete')`);
await waitUntil(async () => {
  await client.sync();
  const l = await localRows(client.db, T);
  return l.has(updId) && l.has(delId);
}, 'the initial rows');

const slowId = `slow${newId().slice(4)}`;
const slow = new OpenTransaction();
await slow.run('BEGIN');
await slow.run(`INSERT INTO ${T} (id, title) VALUES (${lit(slowId)}, 'slow insert')`);
await slow.run(`UPDATE ${T} SET title = 'slow update' WHERE id = ${lit(updId)}`);
await slow.run(`DELETE FROM ${T} WHERE id = ${lit(delId)}`);

const fastIds = [];
for (let i = 0; i < 3; i++) {
  const fastId = `fast${newId().slice(4)}`;
  fastIds.push(fastId);
  await psql(`INSERT INTO ${T} (id, title) VALUES (${lit(fastId)}, 'fast ${i}')`);
  await waitUntil(async () => {
    await client.sync();
    return (await localRows(client.db, T)).has(fastId);
  }, `the fast row ${i} committed while the slow transaction is open`);
  await sleep(200);
}
const before = await localRows(client.db, T);
assert(!before.has(slowId) && before.get(updId)?.title === 'before' && before.has(delId),
  'uncommitted writes must not be visible to the client');
const watermark = client.lastPull().response.timestamp;
log(`client watermark ${watermark} is past the fast commits; committing the slow transaction`);

await slow.run('COMMIT');
await slow.end();
await waitUntil(async () => {
  await client.sync();
  const l = await localRows(client.db, T);
  return l.get(slowId)?.title === 'slow insert' && l.get(updId)?.title === 'slow update' && !l.has(delId);
}, 'the slow transaction\'s insert, update and delete (committed after the client\'s watermark passed them)', 20000);
assert(client.lastPull().response.timestamp > watermark, 'the watermark moved forward');
await expectClientEqualsServer(client, T);
const d = await client.diagnose();
if (d.issueCount !== 0) fail(`diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
checkNoClientErrors();
pass('a late commit still reaches the client');
