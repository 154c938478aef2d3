// Helpers shared by the WatermelonDB scripts (tests/node/watermelon/*.mjs): the real
// @nozbe/watermelondb 0.28 client in Node (LokiJS adapter, in memory), models without decorators,
// `synchronize()` over eddy's /v1/watermelon/{pull,push}, the server's rows read with psql, and
// the client's own diagnostics (logger errors, diagnoseSyncConsistency).
//
// The tables are those of schema.sql, exposed by eddy.toml in this folder (scope.mjs: scoped.toml;
// see ../README.md).
import { createRequire } from 'node:module';
import { createHmac, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fail, log, eddyUrl, authHeaders, psql, requireEnv, sleep } from '../lib.mjs';

// The package has no `exports` map and is CommonJS: require() is the plain way in (spec 4).
const require = createRequire(import.meta.url);
const { Database, Model, appSchema, tableSchema } = require('@nozbe/watermelondb');
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default;
const { synchronize, hasUnsyncedChanges } = require('@nozbe/watermelondb/sync');
const { schemaMigrations, addColumns, createTable } = require('@nozbe/watermelondb/Schema/migrations');
const { diagnoseSyncConsistency } = require('@nozbe/watermelondb/diagnostics');
const logger = require('@nozbe/watermelondb/utils/common/logger').default;

export { hasUnsyncedChanges, schemaMigrations, addColumns, createTable, tableSchema };

// ---------------------------------------------------------------------------------------------
// WatermelonDB's own complaints. `logError` (a server bug as the client sees it: "Server wants
// client to create record ... but it already exists locally", a timestamp going back, ...) goes to
// logger.error; unknown tables go to logger.warn. Both are recorded; a correct backend makes no
// error, so `checkNoClientErrors` is called at the end of every script.
export const clientErrors = [];
export const clientWarnings = [];
const text = (args) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
logger.error = (...args) => {
  clientErrors.push(text(args));
  console.error('[watermelondb error]', text(args));
};
logger.warn = (...args) => {
  clientWarnings.push(text(args));
  if (process.env.WM_VERBOSE) console.warn('[watermelondb warn]', text(args));
};
logger.log = (...args) => process.env.WM_VERBOSE && console.log('[watermelondb]', text(args));
logger.debug = () => {};

// Fails unless every recorded client error matches one of `allowed` (regexps).
export function checkNoClientErrors(allowed = []) {
  const bad = clientErrors.filter((e) => !allowed.some((re) => re.test(e)));
  if (bad.length) fail(`WatermelonDB logged ${bad.length} error(s):\n  ${bad.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------------
// Schema and models. Every synced table of schema.sql has the same task columns; in the client
// schema they are `title`, `done`, `estimate` (optional), `meta` (optional, a JSON string) and the
// mandatory `created_at` / `updated_at` numbers (epoch ms).
export function taskTable(name, { withEstimate = true } = {}) {
  const columns = [
    { name: 'title', type: 'string' },
    { name: 'done', type: 'boolean' },
    ...(withEstimate ? [{ name: 'estimate', type: 'number', isOptional: true }] : []),
    { name: 'meta', type: 'string', isOptional: true },
    { name: 'created_at', type: 'number' },
    { name: 'updated_at', type: 'number' },
  ];
  return tableSchema({ name, columns });
}

// A model class per table, without decorators: records are read and written through `_raw` and
// `_setRaw` (spec 4), so nothing but `static table` is needed.
function modelFor(table) {
  return class extends Model {
    static table = table;
  };
}

// A fresh in-memory client database. `tables`: names (task tables) or tableSchema objects.
// autosave stays off (it would keep Node alive); `cloneWithSchema` saves by hand instead.
export function makeDatabase({ tables, version = 1, migrations } = {}) {
  const schemas = tables.map((t) => (typeof t === 'string' ? taskTable(t) : t));
  const schema = appSchema({ version, tables: schemas });
  const adapter = new LokiJSAdapter({
    schema,
    ...(migrations ? { migrations } : {}),
    useWebWorker: false,
    useIncrementalIndexedDB: false,
    extraLokiOptions: { autosave: false },
    onSetUpError: (e) => fail(`LokiJSAdapter setup failed: ${e?.stack ?? e}`),
  });
  return new Database({ adapter, modelClasses: schemas.map((s) => modelFor(s.name)) });
}

// An app upgrade: the same stored data opened with a newer schema and its migrations (the
// adapter's testClone, after saving Loki's memory, which autosave would otherwise do).
export async function cloneWithSchema(db, { tables, version, migrations }) {
  const schemas = tables.map((t) => (typeof t === 'string' ? taskTable(t) : t));
  const schema = appSchema({ version, tables: schemas });
  const loki = db.adapter.underlyingAdapter._driver.loki;
  await new Promise((resolve, reject) => loki.saveDatabase((e) => (e ? reject(e) : resolve())));
  const adapter = await db.adapter.underlyingAdapter.testClone({ schema, migrations });
  return new Database({ adapter, modelClasses: schemas.map((s) => modelFor(s.name)) });
}

// A WatermelonDB-style id: 16 characters of [0-9a-zA-Z].
export function newId() {
  const abc = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return Array.from(randomBytes(16), (b) => abc[b % abc.length]).join('');
}

// Local writes (one db.write each). `fields` are raw column values.
export async function createTask(db, table, fields = {}) {
  const now = Date.now();
  return db.write(() =>
    db.get(table).create((r) => {
      const all = { title: '', done: false, created_at: now, updated_at: now, ...fields };
      for (const [k, v] of Object.entries(all)) r._setRaw(k, v);
    }),
  );
}

export async function updateTask(db, table, id, fields) {
  const record = await db.get(table).find(id);
  await db.write(() =>
    record.update((r) => {
      for (const [k, v] of Object.entries({ updated_at: Date.now(), ...fields })) r._setRaw(k, v);
    }),
  );
  return record;
}

export async function deleteTask(db, table, id) {
  const record = await db.get(table).find(id);
  await db.write(() => record.markAsDeleted());
}

// The local rows (deleted-but-unpushed ones excluded), raw, keyed by id.
export async function localRows(db, table) {
  const records = await db.get(table).query().fetch();
  return new Map(records.map((r) => [r.id, { ...r._raw }]));
}

export async function localRow(db, table, id) {
  return (await localRows(db, table)).get(id);
}

// ---------------------------------------------------------------------------------------------
// Sync over HTTP, as docs/watermelon.md tells apps to write it: the whole pull JSON is returned
// (so `experimentalStrategy` reaches synchronize()), the client id goes in X-Client-Id, and a
// non-2xx push throws (the error carries `status` and the parsed `body`).
export const pullUrl = () => `${eddyUrl()}/v1/watermelon/pull`;
export const changesUrl = () => `${eddyUrl()}/v1/watermelon/changes`;
export const pushUrl = () => `${eddyUrl()}/v1/watermelon/push`;

// `token`: this client's JWT (else EDDY_TOKEN, if set).
function headersFor(clientId, extra = {}, token = null) {
  const auth = token ? { Authorization: `Bearer ${token}` } : authHeaders();
  return { ...auth, ...(clientId ? { 'X-Client-Id': clientId } : {}), ...extra };
}

// An HS256 JWT for `claims` (expires in 10 minutes).
export function hs256Token(claims, secret) {
  const b64 = (s) => Buffer.from(s).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export class HttpError extends Error {
  constructor(what, status, body) {
    super(`${what} answered ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

async function readBody(res) {
  const raw = await res.text();
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

// A client: its database, its id (null: no X-Client-Id header), and the last requests it made.
export class Client {
  constructor(db, clientId, { migrationsEnabledAtVersion, name, keepAll = false, token = null } = {}) {
    this.db = db;
    this.token = token;
    this.keepAll = keepAll; // keep every request (soak: to explain an inconsistency)
    this.clientId = clientId;
    this.name = name ?? clientId ?? 'anonymous';
    this.migrationsEnabledAtVersion = migrationsEnabledAtVersion;
    this.pulls = []; // { query, response }
    this.pushes = []; // { query, body, status, response }
    this.afterPull = null; // async hook run between the pull's answer and its application
  }

  async pullChanges({ lastPulledAt, schemaVersion, migration }) {
    const query = new URLSearchParams({
      last_pulled_at: `${lastPulledAt}`,
      schema_version: `${schemaVersion}`,
      migration: migration ? JSON.stringify(migration) : 'null',
    });
    const res = await fetch(`${pullUrl()}?${query}`, { headers: headersFor(this.clientId, {}, this.token) });
    const body = await readBody(res);
    this.pulls.push({
      at: performance.now(), lastPulledAt, schemaVersion, migration, status: res.status, response: body,
      encoding: res.headers.get('content-encoding'), // fetch asks for gzip and unpacks it
      transfer: res.headers.get('transfer-encoding'), // 'chunked' when eddy streamed the body
    });
    if (this.pulls.length > 50 && !this.keepAll) this.pulls.shift();
    if (!res.ok) throw new HttpError(`pull ${query}`, res.status, body);
    if (this.afterPull) {
      const hook = this.afterPull;
      this.afterPull = null;
      await hook(body);
    }
    return body;
  }

  async pushChanges({ changes, lastPulledAt }) {
    const res = await fetch(`${pushUrl()}?last_pulled_at=${lastPulledAt}`, {
      method: 'POST',
      headers: headersFor(this.clientId, { 'Content-Type': 'application/json' }, this.token),
      body: JSON.stringify(changes),
    });
    const body = await readBody(res);
    this.pushes.push({ at: performance.now(), lastPulledAt, changes, status: res.status, response: body });
    if (this.pushes.length > 50 && !this.keepAll) this.pushes.shift();
    if (!res.ok) throw new HttpError(`push last_pulled_at=${lastPulledAt}`, res.status, body);
    return body;
  }

  // One synchronize(). With a client id the server tells created from updated for this client,
  // so `sendCreatedAsUpdated` stays off (and any misclassification shows as a client error);
  // without one the server sends `created` only on a first sync, and the docs say to set it.
  async sync(extra = {}) {
    const syncLog = {};
    await synchronize({
      database: this.db,
      pullChanges: (args) => this.pullChanges(args),
      pushChanges: (args) => this.pushChanges(args),
      sendCreatedAsUpdated: !this.clientId,
      ...(this.migrationsEnabledAtVersion ? { migrationsEnabledAtVersion: this.migrationsEnabledAtVersion } : {}),
      log: syncLog,
      ...extra,
    });
    return syncLog;
  }

  // Subscribes to live nudges (GET /v1/watermelon/changes, server-sent events) and calls
  // onChanged() for each "changed" event, the way an app would call synchronize(). Returns a stop
  // function. Node has no EventSource: the stream is read with fetch.
  subscribeNudges(lastPulledAt, onChanged) {
    const controller = new AbortController();
    const url = `${changesUrl()}?last_pulled_at=${lastPulledAt}`;
    const run = (async () => {
      const res = await fetch(url, { headers: headersFor(this.clientId, {}, this.token), signal: controller.signal });
      if (!res.ok) throw new HttpError('changes', res.status, await res.text());
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of res.body) {
        text += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const event = text.slice(0, end);
          text = text.slice(end + 2);
          if (event.startsWith('event: changed')) await onChanged(JSON.parse(event.split('data: ')[1]));
        }
      }
    })().catch((e) => {
      if (e.name !== 'AbortError') fail(`nudges: ${e.stack ?? e}`);
    });
    return async () => {
      controller.abort();
      await run;
    };
  }

  // sync() retried on a 409 conflict (the docs' "retry once", a few times under contention).
  async syncRetrying(attempts = 5) {
    for (let i = 1; ; i++) {
      try {
        return await this.sync();
      } catch (e) {
        if (!(e instanceof HttpError && e.status === 409) || i >= attempts) throw e;
      }
    }
  }

  // Every kept request that carried `id` (of `table`), oldest first: what the client was told
  // about the record and what it sent (for failure messages).
  historyOf(table, id) {
    const lines = [];
    const all = [
      ...this.pulls.map((p, i) => ({ kind: 'pull', i, at: p.at, p })),
      ...this.pushes.map((p, i) => ({ kind: 'push', i, at: p.at, p })),
    ].sort((x, y) => x.at - y.at);
    for (const { kind, p } of all) {
      if (kind === 'pull') {
        const c = p.response?.changes?.[table];
        const hit = c && (['created', 'updated'].map((k) => [k, c[k].find((r) => r.id === id)]).find(([, r]) => r) ??
          (c.deleted.includes(id) ? ['deleted', id] : null));
        const ts = p.response?.timestamp;
        if (hit) lines.push(`pull last=${p.lastPulledAt} -> ts=${ts}: ${hit[0]} ${JSON.stringify(hit[1])}`);
        else lines.push(`pull last=${p.lastPulledAt} -> ts=${ts}${p.status !== 200 ? ` status ${p.status}` : ''}`);
      } else {
        const c = p.changes?.[table];
        const hit = c && (['created', 'updated'].map((k) => [k, c[k].find((r) => r.id === id)]).find(([, r]) => r) ??
          (c.deleted.includes(id) ? ['deleted', id] : null));
        if (hit) lines.push(`push last=${p.lastPulledAt}: ${hit[0]} ${JSON.stringify(hit[1])} -> ${p.status} ${JSON.stringify(p.response)}`);
      }
    }
    // Runs of pulls that did not carry the record are collapsed.
    return lines.filter((l, i) => !(l.startsWith('pull') && !l.includes(':') && lines[i + 1]?.startsWith('pull') && !lines[i + 1].includes(':')));
  }

  lastPull() {
    return this.pulls[this.pulls.length - 1];
  }

  lastPush() {
    return this.pushes[this.pushes.length - 1];
  }

  // The client's own consistency check: syncs twice, full pull, compares every record.
  async diagnose() {
    const lines = [];
    const result = await diagnoseSyncConsistency({
      db: this.db,
      synchronize: () => this.syncRetrying(),
      pullChanges: async (args) => (await this.pullChanges(args)).changes,
      log: (line) => lines.push(line),
    });
    return { issueCount: result.issueCount, log: result.log ?? lines.join('\n') };
  }
}

// ---------------------------------------------------------------------------------------------
// The server side, read with SQL (the truth the clients must equal).

// Every row of `table` in the client's representation (ids and values as the pull sends them).
export async function serverRows(table, where = 'true') {
  const out = await psql(
    `SELECT coalesce(json_agg(json_build_object(` +
      `'id', id, 'title', title, 'done', done, 'estimate', estimate, 'meta', meta::text,` +
      ` 'created_at', floor(extract(epoch FROM created_at) * 1000)::bigint,` +
      ` 'updated_at', floor(extract(epoch FROM updated_at) * 1000)::bigint) ORDER BY id), '[]')` +
      ` FROM ${table} WHERE ${where}`,
  );
  return new Map(JSON.parse(out).map((r) => [r.id, r]));
}

const parseMeta = (m) => {
  if (m === null || m === undefined || m === '') return null;
  try {
    return JSON.stringify(sortKeys(JSON.parse(m)));
  } catch {
    return `unparsable:${m}`;
  }
};
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

// The differences between a client row and a server row (empty when equal). Timestamps may differ
// by 1 ms (microseconds in PostgreSQL), JSON by formatting.
export function rowDiff(local, server, { withEstimate = true } = {}) {
  const diffs = [];
  const same = (col, a, b) => {
    if (a !== b) diffs.push(`${col}: client ${JSON.stringify(a)} server ${JSON.stringify(b)}`);
  };
  same('title', local.title, server.title ?? '');
  same('done', local.done, server.done ?? false);
  if (withEstimate) same('estimate', local.estimate ?? null, server.estimate ?? null);
  same('meta', parseMeta(local.meta), parseMeta(server.meta));
  for (const col of ['created_at', 'updated_at']) {
    if (Math.abs(Number(local[col]) - Number(server[col])) > 1) same(col, local[col], server[col]);
  }
  return diffs;
}

// Fails unless the client's rows of `table` equal the server's (same ids, same values);
// `options.where` narrows the server's rows (a scope), `options.withEstimate` as for rowDiff.
export async function expectClientEqualsServer(client, table, options = {}) {
  const local = await localRows(client.db, table);
  const server = await serverRows(table, options.where);
  const problems = [];
  for (const [id, s] of server) {
    const l = local.get(id);
    if (!l) problems.push(`${id}: on the server, missing on the client`);
    else if (l._status !== 'synced') problems.push(`${id}: client _status ${l._status}`);
    else {
      const d = rowDiff(l, s, options);
      if (d.length) problems.push(`${id}: ${d.join('; ')}`);
    }
  }
  for (const id of local.keys()) if (!server.has(id)) problems.push(`${id}: on the client, not on the server`);
  if (problems.length) {
    fail(`${client.name}: ${table} differs from the server in ${problems.length} row(s):\n  ` +
      problems.slice(0, 30).join('\n  ') + `\nlast pull: ${show(client.lastPull())}`);
  }
  return server.size;
}

export function show(v, max = 2000) {
  const s = JSON.stringify(v);
  return s && s.length > max ? `${s.slice(0, max)}...` : s;
}

// A SQL writer in a transaction of its own that stays open: psql reading statements from a pipe.
// `run(sql)` resolves once psql has executed it (an \echo marker follows every statement).
export class OpenTransaction {
  constructor() {
    this.proc = spawn('psql', [requireEnv('DATABASE_URL'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.out = '';
    this.err = '';
    this.proc.stdout.on('data', (d) => (this.out += d));
    this.proc.stderr.on('data', (d) => (this.err += d));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
    this.seq = 0;
  }

  async run(sql, timeoutMs = 15000) {
    const marker = `__done_${++this.seq}__`;
    this.proc.stdin.write(`${sql};\n\\echo ${marker}\n`);
    const deadline = Date.now() + timeoutMs;
    while (!this.out.includes(marker)) {
      if (this.err || Date.now() > deadline) fail(`psql (open transaction) on ${sql}: ${this.err || 'timeout'}`);
      await sleep(20);
    }
  }

  async end() {
    this.proc.stdin.end('\\q\n');
    const code = await this.exited;
    if (code !== 0) fail(`psql (open transaction) exited ${code}: ${this.err}`);
  }
}

// Polls `pred()` until true; fails naming `what` after `timeoutMs`.
export async function waitUntil(pred, what, timeoutMs = 15000, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(stepMs);
  }
  fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// SQL literal for text.
export const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

export { log, fail, psql, sleep };
