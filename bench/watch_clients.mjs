// Load for bench/watch_bench: SSE subscribers against eddy serve. Opens KEYS subscriptions to
// one key each (keys 1..KEYS) and WHOLE subscriptions to the whole table, prints "READY" once
// every stream got its `ready` event, records commit-to-receive latency of every change event
// (receive wall time minus the change's commit_time, in microseconds), and on SIGTERM prints
// one JSON line with the counts and percentiles.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const base = process.env.EDDY_URL;
const table = process.env.TABLE || 'items';
const keys = Number(process.env.KEYS || 0);
const whole = Number(process.env.WHOLE || 0);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const latencies = [];
let received = 0;
let ready = 0;
const total = keys + whole;
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

function parseCommitUs(iso) {
  // "2026-11-23T19:25:09.123456Z": Date parses milliseconds; add the remaining microseconds.
  const ms = Date.parse(iso);
  const frac = iso.match(/\.(\d+)Z$/);
  const micros = frac ? Number((frac[1] + '000000').slice(3, 6)) : 0;
  return ms * 1000 + micros;
}

function open(path) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, { agent }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`${path}: HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      let isReady = false;
      res.on('data', (chunk) => {
        const at = nowUs();
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (frame.includes('event: ready') && !isReady) {
            isReady = true;
            ready++;
            resolve();
          } else if (frame.includes('event: change')) {
            const data = frame.slice(frame.indexOf('data: ') + 6);
            const m = data.match(/"commit_time":"([^"]+)"/);
            if (m) latencies.push(at - parseCommitUs(m[1]));
            received++;
          }
        }
      });
    });
    req.on('error', reject);
  });
}

const opens = [];
const batch = 200;
const paths = [];
for (let k = 1; k <= keys; k++) paths.push(`/v1/watch?table=${table}&op=update&key=${k}`);
for (let w = 0; w < whole; w++) paths.push(`/v1/watch?table=${table}&op=update`);
for (let i = 0; i < paths.length; i += batch) {
  await Promise.all(paths.slice(i, i + batch).map(open));
}
console.log(`READY ${ready}/${total}`);

process.on('SIGTERM', () => {
  latencies.sort((a, b) => a - b);
  const pick = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] : 0);
  console.log(JSON.stringify({ received, p50_us: pick(0.5), p99_us: pick(0.99), n: latencies.length }));
  process.exit(0);
});
process.stdin.resume();
