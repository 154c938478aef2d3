// Migration sync (spec 1.4): a client on schema v1 (wm_mig_tasks without `estimate`, no
// wm_mig_projects) syncs; the server's rows already have estimates, and wm_mig_projects has rows.
// The app upgrades to v2 (addColumns estimate, createTable wm_mig_projects: the same stored data
// opened with the new schema and its migrations). Its next pull carries
// migration = {from: 1, tables: [wm_mig_projects], columns: [{table: wm_mig_tasks, columns:
// [estimate]}]}; eddy must backfill every estimate that is not the default and every project,
// although none of them changed since the client's last pull.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, cloneWithSchema, taskTable, schemaMigrations, addColumns, createTable,
  newId, localRows, expectClientEqualsServer, checkNoClientErrors, waitUntil, psql, log, fail, show, lit,
} from './wmlib.mjs';

overallTimeout(90);
const TASKS = 'wm_mig_tasks';
const PROJECTS = 'wm_mig_projects';
const run = newId().slice(0, 6);
const ids = { est: `est${newId().slice(3)}`, none: `none${newId().slice(4)}`, later: `later${newId().slice(5)}` };
const projectIds = [`prj${newId().slice(3)}`, `prj${newId().slice(3)}`];
await psql(
  `INSERT INTO ${TASKS} (id, title, estimate) VALUES (${lit(ids.est)}, 'has an estimate', 3.25),` +
    ` (${lit(ids.none)}, 'no estimate', NULL), (${lit(ids.later)}, 'estimate set later', NULL);` +
    ` INSERT INTO ${PROJECTS} (id, title) VALUES (${lit(projectIds[0])}, 'project 0'), (${lit(projectIds[1])}, 'project 1')`,
);

// --- schema v1 -------------------------------------------------------------------------------
// Migration syncs need an adapter with migrations, even an empty list, from the start.
const v1db = makeDatabase({ version: 1, tables: [taskTable(TASKS, { withEstimate: false })], migrations: schemaMigrations({ migrations: [] }) });
const v1 = new Client(v1db, `mig-${run}`, {
  migrationsEnabledAtVersion: 1,
});
await waitUntil(async () => {
  await v1.sync();
  const l = await localRows(v1.db, TASKS);
  return Object.values(ids).every((id) => l.has(id));
}, 'the v1 client to get the tasks');
// An estimate set while the client is on v1 reaches it only as an update without the column.
await psql(`UPDATE ${TASKS} SET estimate = 8 WHERE id = ${lit(ids.later)}`);
await waitUntil(async () => {
  await v1.sync();
  return v1.lastPull().response.changes[TASKS].updated.some((r) => r.id === ids.later);
}, 'the v1 client to pull the estimate update');
assert(v1.pulls.every((p) => p.migration === null && p.schemaVersion === 1), 'v1 pulls carry no migration');
await expectClientEqualsServer(v1, TASKS, { withEstimate: false });
log('v1 synced');

// --- upgrade to v2 ---------------------------------------------------------------------------
const projectTable = taskTable(PROJECTS);
const migrations = schemaMigrations({
  migrations: [
    {
      toVersion: 2,
      steps: [
        addColumns({ table: TASKS, columns: [{ name: 'estimate', type: 'number', isOptional: true }] }),
        createTable({ name: PROJECTS, columns: projectTable.columnArray }),
      ],
    },
  ],
});
const v2db = await cloneWithSchema(v1.db, { version: 2, tables: [TASKS, projectTable], migrations });
const v2 = new Client(v2db, v1.clientId, { migrationsEnabledAtVersion: 1 });
const before = await localRows(v2.db, TASKS);
assert(before.get(ids.est)?.estimate === null, `after the local migration the new column is empty: ${show(before.get(ids.est))}`);

await v2.sync();
const pull = v2.lastPull();
const m = pull.migration;
assert(pull.schemaVersion === 2 && m && m.from === 1, `the first v2 pull carries the migration: ${show(pull)}`);
assert(JSON.stringify(m.tables) === JSON.stringify([PROJECTS]), `migration.tables: ${show(m)}`);
assert(m.columns.length === 1 && m.columns[0].table === TASKS && JSON.stringify(m.columns[0].columns) === '["estimate"]',
  `migration.columns: ${show(m)}`);
assert(pull.status === 200, `migration pull: ${show(pull.response)}`);
const tasks = await localRows(v2.db, TASKS);
assert(tasks.get(ids.est)?.estimate === 3.25 && tasks.get(ids.later)?.estimate === 8 && tasks.get(ids.none)?.estimate === null,
  `the migration sync backfills estimates: ${show([tasks.get(ids.est), tasks.get(ids.later)])}; pull: ${show(pull.response.changes[TASKS])}`);
const projects = await localRows(v2.db, PROJECTS);
assert(projectIds.every((id) => projects.get(id)?._status === 'synced'),
  `the migration sync backfills the new table: ${show([...projects.values()])}; pull: ${show(pull.response.changes[PROJECTS])}`);
await expectClientEqualsServer(v2, TASKS);
await expectClientEqualsServer(v2, PROJECTS);

// The next pull is an ordinary one again.
await v2.sync();
assert(v2.lastPull().migration === null, `after the migration sync pulls carry no migration: ${show(v2.lastPull())}`);
const d = await v2.diagnose();
if (d.issueCount !== 0) fail(`diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
// Rows of the new table may come as `updated` (the client then says it "doesn't exist locally").
checkNoClientErrors([new RegExp(`update record ${PROJECTS}#\\S+, but it doesn't exist locally`)]);
pass('migration sync');
