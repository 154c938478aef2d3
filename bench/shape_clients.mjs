// Load for bench/shape_bench: SHAPES live shapes `where id = $1` (ids 1..SHAPES) on TABLE, one
// long-polling client each, all in this one process over keep-alive sockets. Each client syncs
// its shape (offset=-1 until up-to-date), prints nothing, then long-polls (live=true) with the
// offset, handle and cursor of the last response, as @electric-sql/client does. "READY n" once
// every shape is live. Every update received yields a latency: receive wall time minus the `ts`
// column (microseconds since the epoch, written by the writer in the same transaction).
// SIGUSR1 prints a JSON line with the counts so far; SIGTERM prints it, then stops polling (the
// sockets close) and prints "STOPPED" and exits.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const base = new URL(process.env.EDDY_URL);
const table = process.env.TABLE || 'live';
const shapes = Number(process.env.SHAPES || 0);
const concurrency = Number(process.env.CREATE_CONCURRENCY || 100);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: Infinity });
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

let latencies = [];
let received = 0;
let firstReceiveUs = 0;
let lastReceiveUs = 0;
let polls = 0;
let errors = 0;
let stopping = false;

function get(path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: base.hostname, port: base.port, path, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// Sync every shape first (bounded concurrency), then start all live polls.
const ids = Array.from({ length: shapes }, (_, i) => i + 1);
const states = new Map();
async function syncOne(id) {
  const where = encodeURIComponent('id = $1');
  const shapePath = `/v1/shape?table=${table}&where=${where}&params%5B1%5D=${id}`;
  let offset = '-1';
  let handle = null;
  for (;;) {
    let path = `${shapePath}&offset=${offset}`;
    if (handle) path += `&handle=${handle}`;
    const res = await get(path);
    if (res.status !== 200) throw new Error(`shape ${id}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
    handle = res.headers['electric-handle'];
    offset = res.headers['electric-offset'];
    if ('electric-up-to-date' in res.headers) break;
  }
  states.set(id, { shapePath, offset, handle });
}
const started = performance.now();
for (let i = 0; i < ids.length; i += concurrency) {
  await Promise.all(ids.slice(i, i + concurrency).map(syncOne));
}
const syncSeconds = (performance.now() - started) / 1000;

async function poll(id) {
  const s = states.get(id);
  let { offset, handle } = s;
  let cursor = null;
  while (!stopping) {
    let path = `${s.shapePath}&offset=${offset}&handle=${handle}&live=true`;
    if (cursor) path += `&cursor=${cursor}`;
    let res;
    try {
      res = await get(path);
    } catch (e) {
      if (stopping) return;
      errors++;
      if (errors < 5) console.error(`shape ${id}: ${e.message}`);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const at = nowUs();
    if (res.status !== 200) {
      errors++;
      if (errors < 5) console.error(`shape ${id}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    polls++;
    handle = res.headers['electric-handle'];
    offset = res.headers['electric-offset'];
    cursor = res.headers['electric-cursor'] || cursor;
    for (const m of JSON.parse(res.body)) {
      if (m.headers && m.headers.operation === 'update') {
        received++;
        if (!firstReceiveUs) firstReceiveUs = at;
        lastReceiveUs = at;
        if (m.value && m.value.ts) latencies.push(at - Number(m.value.ts));
      }
    }
  }
}

function stats() {
  const sorted = Float64Array.from(latencies).sort();
  const pick = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] : 0);
  return JSON.stringify({
    received, polls, errors, n: sorted.length, p50_us: pick(0.5), p99_us: pick(0.99),
    max_us: sorted.length ? sorted[sorted.length - 1] : 0,
    first_receive_us: firstReceiveUs, last_receive_us: lastReceiveUs,
  });
}

process.on('SIGUSR1', () => console.log(`STATS ${stats()}`));
process.on('SIGUSR2', () => {
  // A new measurement window: forget what was received so far.
  latencies = [];
  received = 0;
  firstReceiveUs = 0;
  lastReceiveUs = 0;
  console.log('RESET');
});
process.on('SIGTERM', () => {
  console.log(`STATS ${stats()}`);
  stopping = true;
  agent.destroy();
  console.log('STOPPED');
  setTimeout(() => process.exit(0), 100);
});

for (const id of ids) poll(id);
// Let the first live requests reach eddy before saying READY.
await new Promise((r) => setTimeout(r, 1000));
console.log(`READY ${states.size} synced in ${syncSeconds.toFixed(1)} s`);
