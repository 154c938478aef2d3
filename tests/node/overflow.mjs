// A subscriber that stops reading is disconnected when its send queue overflows, without slowing
// anyone else, and resumes from its last position with no gap.
import net from 'node:net';
import { eddyUrl, fail, log, overallTimeout, pass, psql, sleep } from './lib.mjs';

overallTimeout(120);
const base = new URL(eddyUrl());
const table = `eddy_node_overflow_${process.pid}`;
await psql(`CREATE TABLE ${table} (id int PRIMARY KEY, body text); INSERT INTO ${table} VALUES (0, '')`);
await sleep(1500);

// A raw socket that sends the request and then never reads.
const slow = net.connect(Number(base.port), base.hostname);
let firstBytes = '';
let closed = false;
// Reads until the ready event, then stops reading for good.
let stopped = false;
slow.on('data', (d) => {
  if (stopped) return;
  firstBytes += d.toString();
  if (firstBytes.includes('"position"')) {
    stopped = true;
    slow.pause();
  }
});
slow.on('close', () => { closed = true; });
slow.on('error', () => { closed = true; });
slow.write(`GET /v1/watch?table=${table}&op=insert&detail=full HTTP/1.1\r\nHost: x\r\n\r\n`);
await sleep(1000);
const ready = firstBytes.match(/"position":"([^"]+)"/);
if (!ready) fail(`no ready event: ${firstBytes.slice(0, 300)}`);

// A healthy reader beside it must get everything.
const res = await fetch(`${base.origin}/v1/watch?table=${table}&op=insert`);
const reader = res.body.getReader();
let seen = 0;
let text = '';
(async () => {
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += new TextDecoder().decode(value);
    let end;
    while ((end = text.indexOf('\n\n')) >= 0) {
      if (text.slice(0, end).includes('event: change')) seen++;
      text = text.slice(end + 2);
    }
  }
})();

// About 30 MB of changes: more than the 4 MiB queue plus the kernel's socket buffers.
const rows = 3000;
for (let i = 0; i < rows; i += 500) {
  await psql(`INSERT INTO ${table} SELECT g, repeat(md5(g::text), 300) FROM generate_series(${i + 1}, ${i + 500}) g`);
}
const until = Date.now() + 60000;
let overflows = 0;
while ((seen < rows || overflows < 1) && Date.now() < until) {
  await sleep(200);
  const metrics = await (await fetch(`${base.origin}/metrics`)).text();
  overflows = Number(metrics.match(/^eddy_queue_overflows_total (\d+)/m)?.[1] ?? 0);
}
if (seen < rows) fail(`the healthy reader got ${seen} of ${rows}`);
if (overflows < 1) fail('eddy_queue_overflows_total did not count the slow subscriber');
// A paused socket does not see the close until it reads again.
slow.resume();
const closeBy = Date.now() + 20000;
while (!closed && Date.now() < closeBy) await sleep(100);
if (!closed) fail('the slow subscriber was not disconnected');
log(`slow subscriber disconnected; healthy reader got all ${rows}`);

// Resume from the ready position: every row, none twice.
const resumed = await fetch(`${base.origin}/v1/watch?table=${table}&op=insert&from=${encodeURIComponent(ready[1])}`);
const r2 = resumed.body.getReader();
const ids = new Set();
let dup = 0;
let t2 = '';
while (ids.size < rows && Date.now() < until + 30000) {
  const { value, done } = await r2.read();
  if (done) break;
  t2 += new TextDecoder().decode(value);
  let end;
  while ((end = t2.indexOf('\n\n')) >= 0) {
    const frame = t2.slice(0, end);
    t2 = t2.slice(end + 2);
    const m = frame.match(/"key":\{"id":(\d+)\}/);
    if (frame.includes('event: change') && m) {
      if (ids.has(m[1])) dup++;
      ids.add(m[1]);
    }
  }
}
if (ids.size !== rows || dup !== 0) fail(`resume got ${ids.size} of ${rows}, ${dup} duplicates`);
await psql(`DROP TABLE ${table}`);
pass(`overflow disconnects (${overflows} counted) and resume has no gap`);
