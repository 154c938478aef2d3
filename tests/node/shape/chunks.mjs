// Chunking and HTTP caching with chunk_kb = 10 (CHUNK_KB): an initial sync of about 2 MB comes
// in several responses of 10 kB +- 2 kB when followed by hand (electric-offset), the client syncs
// them all; ETag + If-None-Match gives 304 at a mid-log offset; offset=-1 has Electric's exact
// Cache-Control; the CORS expose header is there; HEAD has the headers of GET.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, fail, pass, overallTimeout, psql, assert } from '../lib.mjs';
import { shapeUrl, uniqueName, show, shapeFetch } from './shapelib.mjs';

overallTimeout(120);
const chunk = Number(process.env.CHUNK_KB || 10) * 1000;
const url = shapeUrl();
const t = uniqueName('shape_chunks');
const rowsWanted = 2000;
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, body text);
  INSERT INTO ${t} SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, ${rowsWanted}) g;`);

// Follow the log by hand.
let offset = '-1';
let handle;
const sizes = [];
let rows = 0;
let mid;
for (let i = 0; i < 1000; i++) {
  const q = { table: t, offset };
  if (handle) q.handle = handle;
  const r = await shapeFetch(q);
  assert(r.status === 200, `chunk ${i}: status ${r.status} ${r.text.slice(0, 300)}`);
  handle = r.headers.get('electric-handle');
  assert(r.headers.get('electric-schema'), `chunk ${i}: electric-schema missing`);
  if (offset === '-1') {
    assert(
      r.headers.get('cache-control') === 'public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746',
      `offset=-1 cache-control: ${r.headers.get('cache-control')}`,
    );
    assert(!r.headers.has('electric-up-to-date'), 'offset=-1 must not be up-to-date');
    const expose = r.headers.get('access-control-expose-headers') ?? '';
    for (const h of ['electric-handle', 'electric-offset', 'electric-schema', 'electric-cursor', 'electric-up-to-date']) {
      assert(expose.split(',').map((s) => s.trim()).includes(h), `access-control-expose-headers lacks ${h}: ${expose}`);
    }
    assert(r.headers.get('access-control-allow-origin'), 'access-control-allow-origin missing');
  }
  rows += r.json.filter((m) => m.key && m.headers.operation === 'insert').length;
  const done = r.headers.has('electric-up-to-date');
  if (!done) sizes.push(Buffer.byteLength(r.text));
  if (i === 5) mid = { offset, handle, etag: r.headers.get('etag') };
  offset = r.headers.get('electric-offset');
  if (done) break;
}
assert(rows === rowsWanted, `rows followed by hand: ${rows}`);
const inner = sizes.slice(0, -1);
assert(sizes.length >= 100, `about 2 MB in ${chunk}-byte chunks needs many responses, got ${sizes.length}`);
const off = inner.filter((s) => Math.abs(s - chunk) > 2000);
assert(off.length === 0, `chunks must be ${chunk} +- 2000 bytes; off: ${show(off.slice(0, 10))} of ${inner.length}`);
log(`${sizes.length} chunks, sizes ${Math.min(...inner)}..${Math.max(...inner)} bytes`);

// ETag / 304 at a mid-log offset; the same response otherwise.
assert(mid?.etag, 'mid-log response has an ETag');
const again = await fetch(`${url}?table=${t}&offset=${mid.offset}&handle=${mid.handle}`, { headers: { 'if-none-match': mid.etag } });
assert(again.status === 304, `If-None-Match at a mid-log offset: ${again.status}`);
assert(again.headers.get('etag') === mid.etag && again.headers.get('electric-handle') === mid.handle, '304 keeps the headers');
assert((await again.text()) === '', '304 has no body');
const list = await fetch(`${url}?table=${t}&offset=${mid.offset}&handle=${mid.handle}`, { headers: { 'if-none-match': `"nope", ${mid.etag}` } });
assert(list.status === 304, `If-None-Match list: ${list.status}`);
const other = await fetch(`${url}?table=${t}&offset=${mid.offset}&handle=${mid.handle}`, { headers: { 'if-none-match': '"nope"' } });
assert(other.status === 200, `non-matching If-None-Match: ${other.status}`);
const first1 = await shapeFetch({ table: t, offset: '-1' });
const first2 = await shapeFetch({ table: t, offset: '-1' });
assert(first1.headers.get('etag') === first2.headers.get('etag'), 'the offset=-1 ETag is stable');
log('etag ok');

// HEAD mirrors GET.
const query = `table=${t}&offset=${mid.offset}&handle=${mid.handle}`;
const g = await fetch(`${url}?${query}`);
const h = await fetch(`${url}?${query}`, { method: 'HEAD' });
assert(h.status === g.status, `HEAD status ${h.status} vs GET ${g.status}`);
const skip = new Set(['date', 'content-length', 'transfer-encoding', 'x-request-id', 'connection', 'keep-alive']);
for (const [k, v] of g.headers) {
  if (skip.has(k)) continue;
  if (h.headers.get(k) !== v) fail(`HEAD header ${k}: ${h.headers.get(k)} vs GET ${v}`);
}
assert((await h.text()) === '', 'HEAD has no body');
log('HEAD ok');

// The client syncs all chunks.
const shape = new Shape(new ShapeStream({ url, params: { table: t } }));
const synced = await shape.rows;
assert(synced.length === rowsWanted && synced.every((r) => r.body.length === 960), `client synced ${synced.length} rows`);
await psql(`INSERT INTO ${t} SELECT g, repeat('z', 5000) FROM generate_series(${rowsWanted + 1}, ${rowsWanted + 10}) g`);
const deadline = Date.now() + 15000;
while (shape.currentRows.length !== rowsWanted + 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
assert(shape.currentRows.length === rowsWanted + 10, `live big transaction: ${shape.currentRows.length} rows`);
await psql(`DROP TABLE ${t}`);
pass('chunks');
