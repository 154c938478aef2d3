// Shared helpers of the Node-side tests (see README.md). Each test script imports this file and is
// otherwise standalone: `node sse.mjs` with EDDY_URL and DATABASE_URL in the environment.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';

const scriptName = basename(process.argv[1] ?? 'test');

export function log(...args) {
  console.log(`[${scriptName}]`, ...args);
}

// Prints the reason and exits non-zero. Never returns.
export function fail(message) {
  console.error(`[${scriptName}] FAIL: ${message}`);
  process.exit(1);
}

export function pass(message = 'ok') {
  console.log(`[${scriptName}] PASS: ${message}`);
  process.exit(0);
}

// Exits 2 if the script is still running after `seconds` (env TEST_TIMEOUT overrides), so that
// nothing hangs. `unref` keeps the timer from holding the process open by itself.
export function overallTimeout(seconds) {
  const s = Number(process.env.TEST_TIMEOUT || seconds);
  const timer = setTimeout(() => {
    console.error(`[${scriptName}] FAIL: overall timeout of ${s} s exceeded`);
    process.exit(2);
  }, s * 1000);
  timer.unref();
  return timer;
}

// An unexpected exception or rejection is a failure with its stack, not a silent exit.
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${e?.stack ?? e}`));
process.on('uncaughtException', (e) => fail(`uncaught exception: ${e?.stack ?? e}`));

export function requireEnv(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is required (see tests/node/README.md)`);
  return v;
}

// EDDY_URL without a trailing slash.
export function eddyUrl() {
  return requireEnv('EDDY_URL').replace(/\/+$/, '');
}

// Optional JWT (EDDY_TOKEN): sent as `Authorization: Bearer` (or ?token= by the page).
export function authHeaders() {
  const t = process.env.EDDY_TOKEN;
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Runs SQL with psql against DATABASE_URL; resolves with stdout, rejects with psql's stderr.
export function psql(sql) {
  const db = requireEnv('DATABASE_URL');
  return new Promise((resolve, reject) => {
    execFile(
      'psql',
      [db, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql],
      { timeout: 30_000, maxBuffer: 256 << 20 }, // whole tables come back as one JSON value
      (err, stdout, stderr) => {
        if (err) {
          if (err.code === 'ENOENT') reject(new Error('psql not found on PATH'));
          else reject(new Error(`psql failed (${err.code ?? err.signal}): ${stderr.trim() || err.message}\n  SQL: ${sql}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

// The test table: TEST_TABLE (`name` or `schema.name`) or a random `public.eddy_node_<prefix>_<hex>`.
// Returns { schema, name, qualified, owned } where `owned` says the script made the name up (and
// drops the table at the end).
export function testTable(prefix) {
  const given = process.env.TEST_TABLE;
  const raw = given || `eddy_node_${prefix}_${randomBytes(4).toString('hex')}`;
  if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(raw)) {
    fail(`TEST_TABLE must be a lower-case identifier, optionally schema-qualified; got ${JSON.stringify(raw)}`);
  }
  const [schema, name] = raw.includes('.') ? raw.split('.') : ['public', raw];
  return { schema, name, qualified: `${schema}.${name}`, owned: !given };
}

// Creates (or, for a TEST_TABLE that exists, empties with TRUNCATE, which no test subscribes to)
// the songs-like table, then inserts warm-up row id 0 so that capture has seen the table (eddy may
// learn tables from the replication stream). Tests ignore changes whose key id is 0.
export async function createSongsTable(t) {
  await psql(
    `CREATE TABLE IF NOT EXISTS ${t.qualified} (id int PRIMARY KEY, title text, artist text, owner_id text);` +
      ` TRUNCATE ${t.qualified};`,
  );
  await psql(`INSERT INTO ${t.qualified} (id, title, artist, owner_id) VALUES (0, 'warm-up', 'warm-up', 'warm-up')`);
}

export async function dropTable(t) {
  if (!t.owned || process.env.KEEP_TABLE) return;
  try {
    await psql(`DROP TABLE IF EXISTS ${t.qualified}`);
  } catch (e) {
    log(`warning: could not drop ${t.qualified}: ${e.message}`);
  }
}

export const WARM_UP_ID = 0;
export function isWarmUp(change) {
  return change?.key && String(change.key.id) === String(WARM_UP_ID);
}

// Positions: `<hi>/<lo>:<index>` (LSN in hex, index decimal). Returns a BigInt-comparable tuple
// or null when the text does not have that form.
export function parsePosition(text) {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8}):(\d+)$/.exec(String(text ?? ''));
  if (!m) return null;
  return { lsn: (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`), index: BigInt(m[3]) };
}

// -1, 0, 1; throws on unparsable positions.
export function comparePositions(a, b) {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  if (!pa || !pb) throw new Error(`cannot compare positions ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
  if (pa.lsn !== pb.lsn) return pa.lsn < pb.lsn ? -1 : 1;
  if (pa.index !== pb.index) return pa.index < pb.index ? -1 : 1;
  return 0;
}

// Key values may come as JSON numbers or strings; compare their text.
export function sameValue(a, b) {
  return a !== undefined && a !== null && String(a) === String(b);
}

export function assert(cond, message) {
  if (!cond) fail(message);
}

// A queue of items with an awaitable `next(timeoutMs, what)`.
export class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
  }
  push(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  next(timeoutMs, what) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push(waiter);
    });
  }
  // Resolves with whatever arrives within `ms` (consumes it).
  async drain(ms) {
    await sleep(ms);
    const got = this.items;
    this.items = [];
    return got;
  }
}

// Parses a JSON body; a failure names the text.
export function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch {
    fail(`${what} is not JSON: ${JSON.stringify(String(text).slice(0, 300))}`);
  }
}

// GET `url` and read only the status line and, for errors, the JSON body: resolves with
// { status, contentType, body } (body null for a 200 stream, which is aborted at once).
export async function probe(url, headers = {}) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10_000);
  try {
    const res = await fetch(url, { headers: { ...authHeaders(), ...headers }, signal: ac.signal });
    const contentType = res.headers.get('content-type') || '';
    if (contentType.startsWith('text/event-stream')) {
      ac.abort();
      return { status: res.status, contentType, body: null };
    }
    const text = await res.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = { unparsable: text.slice(0, 300) };
    }
    return { status: res.status, contentType, body };
  } catch (e) {
    if (e.name === 'AbortError') throw new Error(`GET ${url}: no response headers within 10 s`);
    throw new Error(`GET ${url}: ${e.cause?.code ?? ''} ${e.cause?.message ?? e.message}`);
  } finally {
    clearTimeout(timer);
  }
}

// Polls the watch URL until it is accepted (200 text/event-stream). A 400 naming "table" is
// retried for up to `seconds` (eddy may not know a new table until capture has seen it); any
// other refusal fails the test.
export async function waitUntilWatchable(url, seconds = 20) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const r = await probe(url);
    if (r.status === 200 && r.contentType.startsWith('text/event-stream')) return;
    const retriable = r.status === 400 && r.body?.error?.field === 'table';
    if (!retriable || Date.now() > deadline) {
      fail(`GET ${url} was not accepted: ${r.status} ${r.contentType} ${JSON.stringify(r.body)}`);
    }
    await sleep(500);
  }
}
