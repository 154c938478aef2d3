// Live nudges with the real WatermelonDB client: a device subscribes to /v1/watermelon/changes and
// calls synchronize() on each "changed" event, never on a timer. A psql INSERT, UPDATE and DELETE
// and a second device's push all reach it that way; it ends consistent.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, localRows, expectClientEqualsServer, checkNoClientErrors,
  psql, log, fail, waitUntil, lit,
} from './wmlib.mjs';

overallTimeout(90);
const T = 'wm_nudge';
const run = newId().slice(0, 6);

const a = new Client(makeDatabase({ tables: [T] }), `nudge-a-${run}`);
const b = new Client(makeDatabase({ tables: [T] }), `nudge-b-${run}`);
await a.sync();
await b.sync();

// a syncs only when told to; syncs never overlap (a nudge during a sync asks for one more).
let syncing = null;
let again = false;
let nudges = 0;
const syncOnNudge = async () => {
  nudges++;
  if (syncing) {
    again = true;
    return;
  }
  syncing = (async () => {
    do {
      again = false;
      await a.sync();
    } while (again);
  })();
  try {
    await syncing;
  } finally {
    syncing = null;
  }
};
const stop = a.subscribeNudges(a.lastPull().response.timestamp, syncOnNudge);

const id = `${run}-psql`;
await psql(`INSERT INTO ${T} (id, title) VALUES (${lit(id)}, 'from psql')`);
await waitUntil(async () => (await localRows(a.db, T)).get(id)?.title === 'from psql', 'the psql insert, by a nudge');
await psql(`UPDATE ${T} SET title = 'renamed' WHERE id = ${lit(id)}`);
await waitUntil(async () => (await localRows(a.db, T)).get(id)?.title === 'renamed', 'the psql update, by a nudge');
const pushed = await createTask(b.db, T, { title: 'from device b' });
await b.sync();
await waitUntil(async () => (await localRows(a.db, T)).has(pushed.id), "b's push, by a nudge");
await psql(`DELETE FROM ${T} WHERE id = ${lit(id)}`);
await waitUntil(async () => !(await localRows(a.db, T)).has(id), 'the psql delete, by a nudge');
await stop();
log(`${nudges} nudges, ${a.pulls.length} pulls`);
assert(nudges >= 4 && nudges < 40, `one nudge per change or so: ${nudges}`);

await expectClientEqualsServer(a, T);
const d = await a.diagnose();
if (d.issueCount !== 0) fail(`diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
checkNoClientErrors();
pass('live nudges: psql and another device reach a client that syncs only when nudged');
