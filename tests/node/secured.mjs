// Against an eddy with [auth] (HS256, secret in EDDY_SECRET) and configured watchers (see
// tests/integration/watch_test.cc for the config): 401 vs 403, row rules, watchers by label and
// by <schema>.<table>.<op>, column filters limited to extra_columns, trigger_columns, /health
// and /metrics.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { eddyUrl, fail, log, overallTimeout, pass, psql, requireEnv, sleep } from './lib.mjs';

overallTimeout(90);
const base = eddyUrl();
const secret = requireEnv('EDDY_SECRET');

function b64url(s) {
  return Buffer.from(s).toString('base64url');
}
function token(claims, key = secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }));
  const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

// Opens an SSE stream; resolves {status, body} for a refusal, or a stream object for a 200.
function sse(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, { headers }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body || '{}') }));
        return;
      }
      const events = [];
      const waiters = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const ev = { event: 'message', data: '' };
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data = line.slice(6);
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
          }
          if (ev.event === 'change') events.push(JSON.parse(ev.data));
          if (ev.event === 'ready') events.ready = true;
          for (const w of waiters.splice(0)) w();
        }
      });
      resolve({
        status: 200,
        events,
        async waitFor(n, ms = 15000) {
          const until = Date.now() + ms;
          while (events.length < n && Date.now() < until) {
            await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
          }
          return events.length >= n;
        },
        close() { req.destroy(); },
      });
    });
    req.on('error', reject);
  });
}

async function expectRefused(path, headers, status, field, what) {
  const r = await sse(path, headers);
  if (r.status !== status) fail(`${what}: status ${r.status}, expected ${status}: ${JSON.stringify(r.body)}`);
  if (field && r.body?.error?.field !== field) fail(`${what}: field ${r.body?.error?.field}, expected ${field}`);
  log(`${what}: ${status} ${JSON.stringify(r.body)}`);
}

await psql(`CREATE TABLE IF NOT EXISTS songs_sec (id int PRIMARY KEY, title text, artist text,
            owner_id text); ALTER TABLE songs_sec REPLICA IDENTITY FULL;
            INSERT INTO songs_sec VALUES (0, 'warm', 'up', 'nobody') ON CONFLICT DO NOTHING`);
await sleep(500);

const alice = { Authorization: `Bearer ${token({ sub: 'alice', role: 'user' })}` };
const guest = { Authorization: `Bearer ${token({ sub: 'gus', role: 'guest' })}` };
const forged = { Authorization: `Bearer ${token({ sub: 'alice', role: 'user' }, 'x'.repeat(40))}` };
const expired = { Authorization: `Bearer ${token({ sub: 'alice', role: 'user', exp: 1 })}` };

await expectRefused('/v1/watch?watcher=songs', {}, 401, 'token', 'no token');
await expectRefused('/v1/watch?watcher=songs', forged, 401, 'token', 'bad signature');
await expectRefused('/v1/watch?watcher=songs', expired, 401, 'token', 'expired token');
await expectRefused('/v1/watch?watcher=songs', guest, 403, null, 'role not allowed');
await expectRefused('/v1/watch?table=songs_sec', alice, 400, 'watcher', 'ad hoc is off');
await expectRefused('/v1/watch?watcher=nope', alice, 400, 'watcher', 'unknown watcher');
await expectRefused('/v1/watch?watcher=songs&column=title&value=x', alice, 400, 'column',
  'column outside extra_columns');

// Row rule: alice sees only rows she owns. Label watcher with extra columns and trigger columns.
const mine = await sse('/v1/watch?watcher=songs&detail=columns', alice);
if (mine.status !== 200) fail(`alice's subscription refused: ${JSON.stringify(mine.body)}`);
// EventSource-style token in the query string.
const byArtist = await sse(`/v1/watch?watcher=songs&column=artist&value=Randomer&token=${token({ sub: 'alice', role: 'user' })}`);
if (byArtist.status !== 200) fail(`token parameter refused: ${JSON.stringify(byArtist.body)}`);
await sleep(300);
await psql(`INSERT INTO songs_sec VALUES (1, 'a', 'Randomer', 'alice'), (2, 'b', 'Randomer', 'bob')`);
await psql(`UPDATE songs_sec SET artist = 'Other' WHERE id = 1`);   // not a trigger column
await psql(`UPDATE songs_sec SET title = 'a2' WHERE id = 1`);       // trigger column
if (!(await mine.waitFor(2))) fail(`alice got ${JSON.stringify(mine.events)}`);
await sleep(500);
const ids = mine.events.map((e) => `${e.op}:${e.key.id}`);
if (JSON.stringify(ids) !== JSON.stringify(['insert:1', 'update:1'])) {
  fail(`row rule / trigger columns: got ${JSON.stringify(ids)}, expected insert:1 then update:1`);
}
if (JSON.stringify(mine.events[0].new) !== JSON.stringify({ artist: 'Randomer' })) {
  fail(`detail=columns should carry the extra columns only: ${JSON.stringify(mine.events[0])}`);
}
if (!(await byArtist.waitFor(1))) fail('column filter got nothing');
await sleep(300);
if (byArtist.events.length !== 1 || byArtist.events[0].key.id !== 1) {
  fail(`column filter + row rule: ${JSON.stringify(byArtist.events)}`);
}
log('row rule, trigger_columns, extra_columns and the column filter hold');

// A watcher named <schema>.<table>.<op> with a key.
const del = await sse('/v1/watch?watcher=public.songs_sec.delete&key=1', alice);
if (del.status !== 200) fail(`delete watcher refused: ${JSON.stringify(del.body)}`);
await sleep(300);
await psql(`DELETE FROM songs_sec WHERE id IN (1, 2)`);
if (!(await del.waitFor(1))) fail('delete watcher got nothing');
if (del.events[0].op !== 'delete' || del.events[0].key.id !== 1) fail(`delete: ${JSON.stringify(del.events)}`);

// Operations endpoints need no token.
const health = await fetch(`${base}/health`);
const h = await health.json();
if (health.status !== 200 || h.capture !== 'streaming') fail(`/health: ${health.status} ${JSON.stringify(h)}`);
const metrics = await (await fetch(`${base}/metrics`)).text();
for (const name of ['eddy_changes_captured_total', 'eddy_capture_lag_bytes', 'eddy_subscribers',
  'eddy_queue_overflows_total', 'eddy_http_bytes_sent_total', 'eddy_http_requests_total',
  'eddy_http_request_duration_seconds_bucket']) {
  if (!metrics.includes(name)) fail(`/metrics lacks ${name}`);
}
mine.close(); byArtist.close(); del.close();
pass('auth, watchers, health and metrics');
