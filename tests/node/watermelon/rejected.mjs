// Per-record rejection: a push with one record that violates a CHECK constraint (estimate >= 0)
// answers 200 {"experimentalRejectedIds":{table:[id]}}; the other records commit, the rejected
// one keeps its local status and is pushed again on every sync until it is fixed.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, updateTask, localRow, serverRows, expectClientEqualsServer,
  checkNoClientErrors, hasUnsyncedChanges, log, fail, show,
} from './wmlib.mjs';

overallTimeout(90);
const T = 'wm_rejected';
const run = newId().slice(0, 6);
const a = new Client(makeDatabase({ tables: [T] }), `rej-a-${run}`);
await a.sync();

const good1 = await createTask(a.db, T, { title: 'good 1', estimate: 1 });
const bad = await createTask(a.db, T, { title: 'bad', estimate: -1 });
const good2 = await createTask(a.db, T, { title: 'good 2', estimate: 2 });
const syncLog = await a.sync();
const push = a.lastPush();
assert(push.status === 200, `a push with one invalid record is a 200, got ${show(push)}`);
const rejected = push.response?.experimentalRejectedIds?.[T];
assert(Array.isArray(rejected) && rejected.length === 1 && rejected[0] === bad.id,
  `experimentalRejectedIds must name exactly the invalid record ${bad.id}: ${show(push.response)}`);
assert(syncLog.rejectedIds?.[T]?.[0] === bad.id, `the sync log carries the rejected ids: ${show(syncLog.rejectedIds)}`);
let server = await serverRows(T);
assert(server.get(good1.id)?.title === 'good 1' && server.get(good2.id)?.title === 'good 2', 'the valid records committed');
assert(!server.has(bad.id), `the rejected record must not be on the server: ${show(server.get(bad.id))}`);
assert((await localRow(a.db, T, bad.id))._status === 'created', 'the rejected record stays created locally');
assert((await localRow(a.db, T, good1.id))._status === 'synced', 'the accepted records are synced');
assert(await hasUnsyncedChanges({ database: a.db }), 'hasUnsyncedChanges stays true');
log('rejection ok');

// Pushed again (and rejected again) on the next sync.
await a.sync();
assert(a.lastPush()?.changes?.[T]?.created?.some((r) => r.id === bad.id), 'the rejected record is pushed again');
assert(a.lastPush().response?.experimentalRejectedIds?.[T]?.includes(bad.id), `and rejected again: ${show(a.lastPush().response)}`);

// An update of a synced record to an invalid value is rejected the same way.
await updateTask(a.db, T, good1.id, { estimate: -5, title: 'good 1 made bad' });
await a.sync();
assert(a.lastPush().response?.experimentalRejectedIds?.[T]?.includes(good1.id), `an invalid update is rejected: ${show(a.lastPush().response)}`);
server = await serverRows(T);
assert(server.get(good1.id)?.estimate === 1 && server.get(good1.id)?.title === 'good 1', `a rejected update leaves the row as it was: ${show(server.get(good1.id))}`);

// Fixed locally: accepted.
await updateTask(a.db, T, bad.id, { estimate: 3 });
await updateTask(a.db, T, good1.id, { estimate: 4 });
await a.sync();
assert(!a.lastPush().response?.experimentalRejectedIds?.[T]?.length, `fixed records are accepted: ${show(a.lastPush().response)}`);
server = await serverRows(T);
assert(server.get(bad.id)?.estimate === 3 && server.get(good1.id)?.estimate === 4 && server.get(good1.id)?.title === 'good 1 made bad',
  `fixed values on the server: ${show([server.get(bad.id), server.get(good1.id)])}`);
assert(!(await hasUnsyncedChanges({ database: a.db })), 'nothing left to push');
await a.sync();
await expectClientEqualsServer(a, T);
const d = await a.diagnose();
if (d.issueCount !== 0) fail(`diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
checkNoClientErrors();
pass('rejected ids');
