// The deleted-row-returns scenario (spec 1.3, WatermelonDB #649): a client creates a row, syncs,
// deletes it, syncs. The second sync's pull carries the client's own row back (it changed after
// the first pull); if the server calls it `created`, WatermelonDB destroys the local tombstone and
// recreates the row, and the user's delete is lost. The row must NOT come back, neither with an
// X-Client-Id (the server knows the row is this client's) nor without one (created only on a
// first sync, `sendCreatedAsUpdated`). A second device that had the row must lose it too.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, deleteTask, updateTask, localRow, serverRows,
  expectClientEqualsServer, checkNoClientErrors, log, fail, show,
} from './wmlib.mjs';

overallTimeout(90);
const T = 'wm_resurrect';
const run = newId().slice(0, 6);

async function scenario(client, other) {
  await client.sync(); // first sync
  const row = await createTask(client.db, T, { title: `will be deleted by ${client.name}` });
  const edited = await createTask(client.db, T, { title: 'edited after its creation' });
  await client.sync();
  assert((await serverRows(T)).has(row.id), `${client.name}: the created row reached the server`);
  if (other) await other.sync();
  await deleteTask(client.db, T, row.id);
  await updateTask(client.db, T, edited.id, { title: 'edited' });
  await client.sync();
  const pull = client.lastPull().response.changes[T];
  assert(!pull.created.some((r) => r.id === row.id || r.id === edited.id),
    `${client.name}: its own rows must not come back as created: ${show(pull)}`);
  assert(!(await localRow(client.db, T, row.id)), `${client.name}: the deleted row came back locally`);
  assert(!(await serverRows(T)).has(row.id), `${client.name}: the deleted row is still on the server`);
  for (let i = 0; i < 2; i++) {
    await client.sync();
    assert(!(await localRow(client.db, T, row.id)), `${client.name}: the deleted row came back on sync ${i + 3}`);
  }
  if (!client.clientId) {
    // Without a client id the server sends `created` only on a first sync.
    for (const p of client.pulls.slice(1)) {
      assert(p.response.changes[T].created.length === 0, `${client.name}: created outside a first sync: ${show(p.response.changes[T])}`);
    }
  }
  await expectClientEqualsServer(client, T);
  if (other) {
    await other.sync();
    assert(!(await localRow(other.db, T, row.id)), `${other.name}: the row deleted on ${client.name} is still there`);
    await expectClientEqualsServer(other, T);
  }
  const d = await client.diagnose();
  if (d.issueCount !== 0) fail(`${client.name}: diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
  log(`${client.name}: the deleted row stays deleted`);
}

const withId = new Client(makeDatabase({ tables: [T] }), `res-a-${run}`);
const observer = new Client(makeDatabase({ tables: [T] }), `res-b-${run}`);
await scenario(withId, observer);
const anonymous = new Client(makeDatabase({ tables: [T] }), null, { name: 'no X-Client-Id' });
await scenario(anonymous, observer);

// With sendCreatedAsUpdated, WatermelonDB complains about `created` even on a first sync, where
// the server must send them; that complaint only is allowed.
checkNoClientErrors([/'sendCreatedAsUpdated' option is enabled, and yet server sends some records as 'created'/]);
pass('deleted rows stay deleted');
