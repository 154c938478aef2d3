// Replacement sync: a client whose last_pulled_at is ahead of eddy's watermark (a restored
// server, a client that synced with another deployment) cannot be caught up incrementally.
// eddy answers with the full data set and "experimentalStrategy": "replacement"; WatermelonDB then
// drops every synced local record the answer lacks (here: a row hard-deleted meanwhile) and keeps
// its unpushed creations, which it pushes. The client ends equal to the server.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, localRows, expectClientEqualsServer, checkNoClientErrors,
  waitUntil, serverRows, psql, log, fail, show, lit,
} from './wmlib.mjs';

overallTimeout(90);
const T = 'wm_replace';
const run = newId().slice(0, 6);
const rows = [0, 1, 2, 3].map((i) => `r${i}${newId().slice(2)}`);
await psql(`INSERT INTO ${T} (id, title) VALUES ${rows.map((id, i) => `(${lit(id)}, 'row ${i}')`).join(', ')}`);
const client = new Client(makeDatabase({ tables: [T] }), `repl-${run}`);
await waitUntil(async () => {
  await client.sync();
  const l = await localRows(client.db, T);
  return rows.every((id) => l.has(id));
}, 'the rows on the client');
const watermark = client.lastPull().response.timestamp;

// The client believes it is far ahead; meanwhile the server deletes and updates rows.
const ahead = watermark + 1_000_000_000;
assert(ahead <= Number.MAX_SAFE_INTEGER, 'the fake timestamp stays below 2^53');
await client.db.adapter.setLocal('__watermelon_last_pulled_at', `${ahead}`);
await psql(`DELETE FROM ${T} WHERE id = ${lit(rows[0])}; UPDATE ${T} SET title = 'row 1 renamed' WHERE id = ${lit(rows[1])}`);
const unpushed = await createTask(client.db, T, { title: 'created offline' });

await waitUntil(async () => {
  await client.sync();
  const l = await localRows(client.db, T);
  return !l.has(rows[0]) && l.get(rows[1])?.title === 'row 1 renamed';
}, 'the replacement sync to drop the deleted row and bring the rename');
const replacementPull = client.pulls.find((p) => p.lastPulledAt === ahead);
assert(replacementPull, `a pull with last_pulled_at=${ahead} was made`);
const strategy = replacementPull.response.experimentalStrategy;
assert(strategy === 'replacement' || strategy?.default === 'replacement',
  `a last_pulled_at ahead of the watermark gets experimentalStrategy "replacement": ${show(replacementPull.response)}`);
assert(replacementPull.response.timestamp < ahead && replacementPull.response.timestamp >= watermark,
  `the replacement's timestamp is the server's watermark: ${replacementPull.response.timestamp}`);
const l = await localRows(client.db, T);
assert(l.get(unpushed.id)?._status === 'synced', `the unpushed local creation survives the replacement and is pushed: ${show(l.get(unpushed.id))}`);
assert((await serverRows(T)).get(unpushed.id)?.title === 'created offline', 'it reached the server');
await client.sync();
assert(!client.lastPull().response.experimentalStrategy, 'the next pull is incremental again');
await expectClientEqualsServer(client, T);
const d = await client.diagnose();
if (d.issueCount !== 0) fail(`diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
log(`replacement pull: ${show(replacementPull.response.changes[T], 400)}`);
// Going back in time is what WatermelonDB calls a likely server bug, and a full data set cannot
// tell the client's rows from new ones: those complaints are expected here.
checkNoClientErrors([
  /previous pulled-at time was greater/,
  /but it already exists locally/,
  /but it doesn't exist locally/,
]);
pass('replacement sync');
