// Fan-out: COUNT (default 10000) concurrent SSE connections on one table all get `ready`, then
// all receive the change of one insert within 60 s. Plain http.request, one socket each. Raising
// the open-file limit (ulimit -n) is the caller's job; EMFILE is reported as such. See README.md.
//
//   ulimit -n 65536; EDDY_URL=http://127.0.0.1:8080 DATABASE_URL=postgres://... COUNT=10000 node many.mjs

import http from 'node:http';
import {
  authHeaders, createSongsTable, dropTable, eddyUrl, fail, log, overallTimeout, pass, psql, requireEnv,
  sameValue, testTable, waitUntilWatchable,
} from './lib.mjs';

const COUNT = Number(process.env.COUNT || 10000);
const OPEN_CONCURRENCY = Number(process.env.OPEN_CONCURRENCY || 256); // connections being set up at once
const READY_TIMEOUT_S = Number(process.env.READY_TIMEOUT || 90);
const DELIVERY_TIMEOUT_S = Number(process.env.DELIVERY_TIMEOUT || 60);
if (!Number.isInteger(COUNT) || COUNT < 1) fail(`COUNT must be a positive integer, got ${process.env.COUNT}`);
overallTimeout(READY_TIMEOUT_S + DELIVERY_TIMEOUT_S + 60);

const base = eddyUrl();
requireEnv('DATABASE_URL');
const t = testTable('many');
const TARGET_ID = 1;
const url = new URL(`${base}/v1/watch?table=${encodeURIComponent(t.qualified)}&op=insert`);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

const conns = [];
let ready = 0;
let received = 0;
let insertAt = 0;
const latencies = [];
const errors = new Map(); // reason -> count
let stopping = false;
let emfile = false;

function countError(reason) {
  errors.set(reason, (errors.get(reason) || 0) + 1);
}
function errorSummary() {
  return [...errors].map(([r, n]) => `${n}x ${r}`).join(', ') || 'none';
}

// Opens connection i; resolves once it has its `ready` event or has failed.
function openOne(i) {
  return new Promise((resolve) => {
    const c = { i, ready: false, got: false, req: null, done: false };
    conns.push(c);
    const settle = () => {
      if (!c.done) {
        c.done = true;
        resolve();
      }
    };
    const req = http.request(url, {
      agent,
      headers: { Accept: 'text/event-stream', 'Cache-Control': 'no-cache', ...authHeaders() },
    });
    c.req = req;
    req.setTimeout(30_000, () => {
      if (!c.ready) {
        countError('no ready event within 30 s');
        req.destroy();
        settle();
      }
    });
    req.on('error', (e) => {
      if (stopping) return;
      if (e.code === 'EMFILE' || e.code === 'ENFILE') emfile = true;
      countError(`${c.ready ? 'after ready' : 'before ready'}: ${e.code || e.message}`);
      settle();
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          countError(`status ${res.statusCode} ${body.slice(0, 200)}`);
          settle();
        });
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk) => {
        buf += chunk;
        for (;;) {
          const m = /\r?\n\r?\n/.exec(buf);
          if (!m) break;
          const block = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          onEvent(c, block, settle);
        }
      });
      res.on('close', () => {
        if (stopping) return;
        countError(c.ready ? 'stream ended after ready' : 'stream ended before ready');
        settle();
      });
    });
    req.end();
  });
}

function onEvent(c, block, settle) {
  let event = 'message';
  let data = '';
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue; // comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data += (data ? '\n' : '') + value;
  }
  if (event === 'ready' && !c.ready) {
    c.ready = true;
    ready++;
    c.req.setTimeout(0);
    settle();
  } else if (event === 'change' && !c.got) {
    let change;
    try {
      change = JSON.parse(data);
    } catch {
      countError('change data is not JSON');
      return;
    }
    if (!sameValue(change.key?.id, TARGET_ID)) return; // the warm-up row
    c.got = true;
    received++;
    latencies.push(Date.now() - insertAt);
  } else if (event === 'error') {
    countError(`event: error ${data.slice(0, 200)}`);
  }
}

function closeAll() {
  stopping = true;
  for (const c of conns) c.req?.destroy();
  agent.destroy();
}

function emfileHint() {
  return emfile
    ? ' -- EMFILE/ENFILE: this process ran out of file descriptors; raise the limit first (ulimit -n 65536)'
    : '';
}

log(`table ${t.qualified}; opening ${COUNT} SSE connections to ${url.pathname}${url.search}`);
await createSongsTable(t);
await waitUntilWatchable(url.href);

// Phase 1: open them all, OPEN_CONCURRENCY at a time, until each has `ready` or failed.
const started = Date.now();
const progress = setInterval(() => log(`  ${ready}/${COUNT} ready, errors: ${errorSummary()}`), 2000);
let nextIndex = 0;
const workers = Array.from({ length: Math.min(OPEN_CONCURRENCY, COUNT) }, async () => {
  while (nextIndex < COUNT && !emfile && Date.now() - started < READY_TIMEOUT_S * 1000) {
    await openOne(nextIndex++);
  }
});
await Promise.all(workers);
clearInterval(progress);
const openSeconds = ((Date.now() - started) / 1000).toFixed(1);
if (ready < COUNT) {
  closeAll();
  fail(`only ${ready} of ${COUNT} connections got "ready" in ${openSeconds} s; errors: ${errorSummary()}${emfileHint()}`);
}
log(`all ${COUNT} connections ready in ${openSeconds} s`);

// Phase 2: one insert; every connection must get it.
insertAt = Date.now();
await psql(`INSERT INTO ${t.qualified} (id, title, artist, owner_id) VALUES (${TARGET_ID}, 'fan-out', 'many', 'many')`);
const deadline = insertAt + DELIVERY_TIMEOUT_S * 1000;
let lastLog = Date.now();
while (received < COUNT && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 50));
  if (Date.now() - lastLog >= 2000) {
    lastLog = Date.now();
    log(`  ${received}/${COUNT} received the change`);
  }
}
const lostAfterReady = conns.filter((c) => c.ready && !c.got).length;
closeAll();

latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
const stats = latencies.length ? `latency from insert: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${latencies[latencies.length - 1]} ms` : '';
log(`${received} of ${COUNT} connections received the change within ${DELIVERY_TIMEOUT_S} s. ${stats}`);
await dropTable(t);
if (received < COUNT) {
  fail(`${COUNT - received} of ${COUNT} connections did not receive the change (${lostAfterReady} missing); errors: ${errorSummary()}${emfileHint()}`);
}
pass(`${COUNT} concurrent SSE connections all received the change; ${stats}`);
