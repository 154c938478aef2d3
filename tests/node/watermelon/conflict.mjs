// Conflicts and retries with the real client:
// 1. a concurrent change that the pull already saw is merged per column, no conflict;
// 2. a write committed between the pull and the push (psql, from the pull hook) makes the push
//    a 409 {error:"conflict",table,id} that changes nothing; the retry pulls it, merges per column
//    (the locally changed column wins, the others take the server's value) and pushes;
// 3. a row deleted on the server between pull and push: 409, and the retry drops the local row;
// 4. a push whose answer is lost: the retry re-pushes the same records, idempotently.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, updateTask, localRow, serverRows, expectClientEqualsServer,
  checkNoClientErrors, waitUntil, psql, log, fail, show, lit, HttpError,
} from './wmlib.mjs';

overallTimeout(120);
const T = 'wm_conflict';
const run = newId().slice(0, 6);
const a = new Client(makeDatabase({ tables: [T] }), `conf-a-${run}`);
const b = new Client(makeDatabase({ tables: [T] }), `conf-b-${run}`);

const r = await createTask(a.db, T, { title: 'original', done: false, estimate: 1 });
const id = r.id;
await a.sync();
await b.sync();
assert(await localRow(b.db, T, id), 'b has the row after its sync');

// 1. merge without conflict
await updateTask(b.db, T, id, { done: true });
await updateTask(a.db, T, id, { title: 'from a' });
await a.sync();
await b.sync();
let s = (await serverRows(T)).get(id);
assert(s.title === 'from a' && s.done === true, `per-column merge in the pull: title from a, done from b: ${show(s)}`);
log('merge without conflict ok');

// 2. a write lands between b's pull and b's push
await updateTask(b.db, T, id, { estimate: 5 });
b.afterPull = () => psql(`UPDATE ${T} SET title = 'from sql', updated_at = now() WHERE id = ${lit(id)}`);
let conflict = null;
try {
  await b.sync();
} catch (e) {
  conflict = e;
}
if (!(conflict instanceof HttpError)) fail(`push after a concurrent write must fail with 409, got ${conflict?.stack ?? 'success'}; last push ${show(b.lastPush())}`);
assert(conflict.status === 409, `conflict status: ${conflict.message}`);
assert(conflict.body?.error === 'conflict' && conflict.body?.table === T && conflict.body?.id === id,
  `409 body {error:"conflict", table, id}: ${show(conflict.body)}`);
s = (await serverRows(T)).get(id);
assert(s.title === 'from sql' && s.estimate === 1, `a refused push changes nothing: ${show(s)}`);
let local = await localRow(b.db, T, id);
assert(local._status === 'updated' && local.estimate === 5, `the client keeps its change after a 409: ${show(local)}`);
await b.sync(); // the retry
s = (await serverRows(T)).get(id);
assert(s.title === 'from sql' && s.estimate === 5 && s.done === true, `after the retry: the server's title, b's estimate: ${show(s)}`);
local = await localRow(b.db, T, id);
assert(local._status === 'synced' && local.title === 'from sql' && local.estimate === 5, `b after the retry: ${show(local)}`);
await a.sync();
await expectClientEqualsServer(a, T);
log('409 and retry with per-column merge ok');

// 3. deleted on the server between pull and push
await updateTask(b.db, T, id, { title: 'b edits a row being deleted' });
b.afterPull = () => psql(`DELETE FROM ${T} WHERE id = ${lit(id)}`);
conflict = null;
try {
  await b.sync();
} catch (e) {
  conflict = e;
}
assert(conflict instanceof HttpError && conflict.status === 409, `an update of a row deleted after the pull: 409, got ${conflict?.message ?? 'success'}`);
assert(!(await serverRows(T)).has(id), 'the refused push must not bring the row back');
await waitUntil(async () => {
  await b.sync();
  return !(await localRow(b.db, T, id));
}, 'the retry to pull the delete');
assert(!(await serverRows(T)).has(id), 'the row stays deleted on the server');
log('409 on a deleted row ok');

// 4. the push's answer is lost: the records stay unsynced and are pushed again
const lost = await createTask(b.db, T, { title: 'pushed twice' });
await updateTask(b.db, T, (await createTask(b.db, T, { title: 'x' })).id, { title: 'pushed twice too' });
const realPush = b.pushChanges.bind(b);
b.pushChanges = async (args) => {
  await realPush(args);
  throw new Error('connection reset (simulated, after the server committed)');
};
let lostErr = null;
try {
  await b.sync();
} catch (e) {
  lostErr = e;
}
assert(lostErr && /simulated/.test(lostErr.message), `the simulated loss: ${lostErr?.message}`);
assert((await serverRows(T)).get(lost.id)?.title === 'pushed twice', 'the first push committed');
b.pushChanges = realPush;
await b.sync();
assert(b.lastPush().status === 200, `the repeated push of already-applied records is accepted: ${show(b.lastPush())}`);
assert((await localRow(b.db, T, lost.id))._status === 'synced', 'the retried records are synced');
for (const dev of [a, b]) {
  await dev.sync();
  await expectClientEqualsServer(dev, T);
  const d = await dev.diagnose();
  if (d.issueCount !== 0) fail(`${dev.name}: diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
}
log('lost push answer and idempotent retry ok');
checkNoClientErrors();
pass('conflicts and retries');
