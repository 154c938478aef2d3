// Helpers shared by the Shape API scripts (tests/node/shape/*.mjs): the endpoint, unique table
// names, waiting on a Shape's rows, printing BigInts, and a fetch that records what it did.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fail, eddyUrl, sleep, requireEnv } from '../lib.mjs';
import { execFile } from 'node:child_process';

export const shapeUrl = () => `${eddyUrl()}/v1/shape`;

// A fresh lower-case table name: `<prefix>_<base36 time><hex>`.
export function uniqueName(prefix) {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

// JSON.stringify that prints BigInts as `123n` (for failure messages).
export function show(value) {
  return JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

// Like `show`, with object keys sorted (jsonb reorders keys): for comparing values.
export function canon(value) {
  const sort = (v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, sort(v[k])]),
        )
      : Array.isArray(v)
        ? v.map(sort)
        : v;
  return show(sort(value));
}

// Polls `shape.currentRows` until `pred(rows)` holds; fails naming `what` after `timeoutMs`.
export async function waitRows(shape, pred, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let rows = [];
  while (Date.now() < deadline) {
    rows = shape.currentRows;
    if (shape.lastSyncedAt() !== undefined && pred(rows)) return rows;
    await sleep(50);
  }
  fail(`timed out waiting for ${what}; rows: ${show(rows).slice(0, 3000)}`);
}

// Polls `pred()` until true; fails naming `what` after `timeoutMs`.
export async function waitUntil(pred, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(50);
  }
  fail(`timed out waiting for ${what}`);
}

// A fetch for ShapeStream's `fetchClient` that records every request's URL and status.
export function recordingFetch() {
  const requests = [];
  const fetchClient = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    const entry = { url, method: init?.method ?? 'GET', status: null };
    requests.push(entry);
    const response = await fetch(input, init);
    entry.status = response.status;
    entry.contentType = response.headers.get('content-type');
    return response;
  };
  return { requests, fetchClient };
}

// Runs a SQL file with psql, with `search_path` set to `schema` (so unqualified names land there).
export function psqlFile(file, schema) {
  const db = requireEnv('DATABASE_URL');
  return new Promise((resolve, reject) => {
    execFile(
      'psql',
      [db, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file],
      { timeout: 60_000, env: { ...process.env, PGOPTIONS: `-c search_path=${schema},public` } },
      (err, stdout, stderr) => (err ? reject(new Error(`psql -f ${file}: ${stderr.trim()}`)) : resolve(stdout)),
    );
  });
}

// GET/HEAD/POST/DELETE on /v1/shape with `query` (an object or a query string). Returns the
// response with its body read as text (`.text`) and parsed as JSON when possible (`.json`).
export async function shapeFetch(query, init = {}) {
  const qs = typeof query === 'string' ? query : new URLSearchParams(query).toString();
  const response = await fetch(`${shapeUrl()}?${qs}`, init);
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}
