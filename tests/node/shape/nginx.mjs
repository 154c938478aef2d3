// Ten clients live-poll one shape through nginx with proxy_cache and proxy_cache_lock: they send
// identical URLs (same offset, same electric-cursor), so nginx passes about one request per live
// cycle to eddy, not ten. NGINX_URL is nginx's base URL; NGINX_ACCESS_LOG its access log, in the
// format `$upstream_cache_status|$upstream_addr|$status|$request_uri` (see shape_test.cc).
import { readFileSync } from 'node:fs';
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, pass, overallTimeout, psql, assert, requireEnv, sleep } from '../lib.mjs';
import { uniqueName, show, waitRows } from './shapelib.mjs';

overallTimeout(120);
const edge = requireEnv('NGINX_URL').replace(/\/+$/, '');
const accessLog = requireEnv('NGINX_ACCESS_LOG');
const clients = Number(process.env.CLIENTS || 10);
const cycles = Number(process.env.CYCLES || 4);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${edge}/v1/health`)).status === 200) break;
  } catch (e) {
    if (i > 100) throw e;
  }
  await sleep(100);
}

const t = uniqueName('shape_edge');
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text); INSERT INTO ${t} SELECT g, 'row ' || g FROM generate_series(1, 10) g;`);
const shapes = [];
for (let i = 0; i < clients; i++) shapes.push(new Shape(new ShapeStream({ url: `${edge}/v1/shape`, params: { table: t } })));
for (const s of shapes) assert((await s.rows).length === 10, 'initial rows through nginx');
await sleep(500);

for (let c = 1; c <= cycles; c++) {
  await psql(`INSERT INTO ${t} VALUES (${100 + c}, 'cycle ${c}')`);
  for (const s of shapes) await waitRows(s, (rs) => rs.some((r) => r.id === 100 + c), `cycle ${c} on every client`);
  await sleep(700);
}

// Live requests for this table: what the clients asked nginx, and what nginx asked eddy.
const lines = readFileSync(accessLog, 'utf8')
  .split('\n')
  .filter((l) => l.includes(`table=${t}`) && l.includes('live=true'))
  .map((l) => {
    const [cache, upstream, status, uri] = l.split('|');
    return { cache, upstream, status, uri };
  });
const urls = new Set(lines.map((l) => l.uri));
const origin = lines.filter((l) => l.upstream && l.upstream !== '-');
log(`${lines.length} live requests by ${clients} clients, ${urls.size} distinct URLs, ${origin.length} reached eddy; statuses ${show([...new Set(lines.map((l) => l.status))])}`);
assert(lines.every((l) => l.status === '200'), `live statuses: ${show(lines.filter((l) => l.status !== '200').slice(0, 5))}`);
assert(lines.length >= clients * cycles, `every client polled live through nginx: ${lines.length} requests`);
// One origin request per live URL (per cycle, including long-poll timeouts), with a little slack
// for a client that asked after the cached answer expired.
assert(origin.length <= urls.size + 2, `origin requests ${origin.length} for ${urls.size} live URLs: ${show(origin.slice(0, 12))}`);
assert(origin.length * 3 <= lines.length, `nginx collapsed the live requests: ${origin.length} of ${lines.length} reached eddy`);
await psql(`DROP TABLE ${t}`);
pass(`nginx: ${lines.length} live requests, ${origin.length} at the origin`);
