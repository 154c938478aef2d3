// Soak: CLIENTS WatermelonDB clients (the last one without X-Client-Id) and SQL_WRITERS psql
// writers change the same table for SOAK_SECONDS: local creates / updates / deletes and syncs
// (409s retried), SQL inserts / updates / deletes, multi-row and slow transactions. Then everyone
// stops, the clients sync until nothing is left to push, and every client must pass
// diagnoseSyncConsistency with 0 issues and equal the server's rows (SQL).
import { overallTimeout, pass } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, updateTask, deleteTask, localRows, expectClientEqualsServer,
  checkNoClientErrors, clientErrors, hasUnsyncedChanges, HttpError, psql, log, fail, sleep, lit, serverRows,
} from './wmlib.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS || 20);
const CLIENTS = Number(process.env.CLIENTS || 3);
const SQL_WRITERS = Number(process.env.SQL_WRITERS || 2);
overallTimeout(SECONDS + 150);
const T = 'wm_soak';
const run = newId().slice(0, 6);
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const chance = (p) => Math.random() < p;
const stats = { localOps: 0, syncs: 0, conflicts: 0, gaveUp: 0, sqlStatements: 0 };
const deadline = Date.now() + SECONDS * 1000;
const sqlHistory = []; // { started, ended, id, sql }: which rows the SQL writers touched

// On an inconsistency: everything each client was told and sent about the records involved, and
// what the SQL writers did to them, so that the failure explains itself.
async function explain(report) {
  const ids = [...new Set([...report.matchAll(/`[a-z_]+\.([0-9a-zA-Z]{16})`/g)].map((m) => m[1]))].slice(0, 5);
  const lines = [];
  for (const id of ids) {
    lines.push(`--- ${id}`);
    for (const h of sqlHistory.filter((h) => h.id === id)) lines.push(`  sql @${h.started.toFixed(0)}-${h.ended.toFixed(0)} ms: ${h.sql}`);
    for (const c of clients) {
      lines.push(`  ${c.name}:`);
      for (const l of c.historyOf(T, id)) lines.push(`    ${l}`);
    }
    try {
      lines.push(`  eddy_sync.meta: ${(await psql(`SELECT row_to_json(m) FROM eddy_sync.meta m WHERE id = ${lit(id)}`)).trim()}`);
    } catch {
      // not eddy's schema name, or no access: the client side is enough
    }
  }
  return lines.join('\n');
}

const clients = Array.from({ length: CLIENTS }, (_, i) =>
  i === CLIENTS - 1 && CLIENTS > 1
    ? new Client(makeDatabase({ tables: [T] }), null, { name: `soak-anonymous-${run}`, keepAll: true })
    : new Client(makeDatabase({ tables: [T] }), `soak-${i}-${run}`, { keepAll: true }),
);

const randomFields = (who) => ({
  title: `${who} ${newId().slice(0, 5)}`,
  done: chance(0.5),
  estimate: chance(0.3) ? null : Math.round(Math.random() * 1000) / 8,
  meta: chance(0.3) ? null : JSON.stringify({ by: who, n: Math.floor(Math.random() * 100), tags: ['x', 'y'] }),
});

async function syncCounting(client, attempts = 5) {
  for (let i = 1; ; i++) {
    try {
      stats.syncs++;
      return await client.sync();
    } catch (e) {
      if (!(e instanceof HttpError && e.status === 409)) {
        fail(`${client.name}: sync failed: ${e.stack ?? e}\nlast push: ${JSON.stringify(client.lastPush())?.slice(0, 1500)}`);
      }
      stats.conflicts++;
      if (i >= attempts) {
        stats.gaveUp++;
        return null;
      }
    }
  }
}

async function clientLoop(client) {
  while (Date.now() < deadline) {
    const ops = 1 + Math.floor(Math.random() * 3);
    for (let k = 0; k < ops; k++) {
      const ids = [...(await localRows(client.db, T)).keys()];
      const r = Math.random();
      if (r < 0.35 || ids.length < 5) await createTask(client.db, T, randomFields(client.name));
      else if (r < 0.85) await updateTask(client.db, T, pick(ids), randomFields(client.name));
      else await deleteTask(client.db, T, pick(ids));
      stats.localOps++;
    }
    await syncCounting(client);
    await sleep(50 + Math.random() * 250);
  }
}

async function sqlLoop(w) {
  const tag = `sql${w}`;
  const someId = `(SELECT id FROM ${T} ORDER BY random() LIMIT 1)`;
  while (Date.now() < deadline) {
    const f = randomFields(tag);
    const values = `${lit(f.title)}, ${f.done}, ${f.estimate ?? 'NULL'}, ${f.meta ? `${lit(f.meta)}::jsonb` : 'NULL'}`;
    const r = Math.random();
    let sql;
    if (r < 0.35) sql = `INSERT INTO ${T} (id, title, done, estimate, meta) VALUES (${lit(newId())}, ${values}) RETURNING id`;
    else if (r < 0.7) sql = `UPDATE ${T} SET (title, done, estimate, meta, updated_at) = (${values}, now()) WHERE id = ${someId} RETURNING id`;
    else if (r < 0.82) sql = `DELETE FROM ${T} WHERE id = ${someId} RETURNING id`;
    else if (r < 0.92) {
      // several rows in one transaction
      sql = `BEGIN; INSERT INTO ${T} (id, title) VALUES (${lit(newId())}, '${tag} multi a'), (${lit(newId())}, '${tag} multi b');` +
        ` UPDATE ${T} SET done = NOT done, updated_at = now() WHERE id = ${someId}; COMMIT`;
    } else {
      // a slow transaction: others commit while it is open
      sql = `BEGIN; INSERT INTO ${T} (id, title) VALUES (${lit(newId())}, '${tag} slow'); SELECT pg_sleep(0.7);` +
        ` UPDATE ${T} SET title = '${tag} slow update', updated_at = now() WHERE id = ${someId} RETURNING id; COMMIT`;
    }
    const started = performance.now();
    const out = await psql(sql);
    for (const id of out.split('\n').filter((l) => /^[0-9a-zA-Z]{16}$/.test(l))) {
      sqlHistory.push({ started, ended: performance.now(), id, sql: sql.slice(0, 60) });
    }
    stats.sqlStatements++;
    await sleep(30 + Math.random() * 150);
  }
}

// Start with some rows so that the first updates have something to change.
await psql(`INSERT INTO ${T} (id, title) SELECT substr(md5(random()::text), 1, 16), 'seed ' || g FROM generate_series(1, 20) g`);
for (const c of clients) await syncCounting(c);
log(`soak: ${CLIENTS} clients, ${SQL_WRITERS} SQL writers, ${SECONDS} s`);
const progress = setInterval(() => log(JSON.stringify(stats)), 5000);
await Promise.all([...clients.map(clientLoop), ...Array.from({ length: SQL_WRITERS }, (_, w) => sqlLoop(w))]);
clearInterval(progress);
log(`writers stopped: ${JSON.stringify(stats)}`);

// Quiet now: sync everyone until nothing is left to push (conflicts between clients settle).
for (let round = 0; ; round++) {
  for (const c of clients) await syncCounting(c, 10);
  let pending = 0;
  for (const c of clients) if (await hasUnsyncedChanges({ database: c.db })) pending++;
  if (pending === 0) break;
  if (round >= 10) fail(`${pending} client(s) still have unsynced changes after ${round + 1} quiet rounds`);
}
for (const c of clients) {
  const d = await c.diagnose();
  if (d.issueCount !== 0) {
    fail(`${c.name}: diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}\n${await explain(d.log)}`);
  }
}
let rows = 0;
for (const c of clients) {
  await c.sync();
  rows = await expectClientEqualsServer(c, T);
}
const allowed = [/'sendCreatedAsUpdated' option is enabled, and yet server sends some records as 'created'/];
const unexpected = clientErrors.filter((e) => !allowed.some((re) => re.test(e)));
if (unexpected.length) {
  const ids = unexpected.map((e) => /#([0-9a-zA-Z]{16})/.exec(e)?.[1]).filter(Boolean).map((id) => `\`${T}.${id}\``);
  log(await explain(ids.join(' ')));
}
checkNoClientErrors(allowed);
log(`final: ${rows} rows, every client equal to the server; ${JSON.stringify(stats)}`);
pass(`soak: ${CLIENTS} clients and ${SQL_WRITERS} SQL writers for ${SECONDS} s, every client consistent`);
