// Live mode over SSE (`liveSse: true` in @electric-sql/client 1.5.28): live changes arrive as
// text/event-stream, and after the server closes the stream (sse_timeout, 10 s in the suite) the
// client reconnects and changes keep arriving, without a fall back to long-polling.
// SSE_TIMEOUT_S (default 10) is the server's sse_timeout.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, pass, overallTimeout, psql, assert, sleep } from '../lib.mjs';
import { shapeUrl, uniqueName, show, waitRows, recordingFetch, shapeFetch } from './shapelib.mjs';

overallTimeout(90);
const sseTimeoutS = Number(process.env.SSE_TIMEOUT_S || 10);
const url = shapeUrl();
const t = uniqueName('shape_sse');
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text); INSERT INTO ${t} SELECT g, 'row ' || g FROM generate_series(1, 3) g;`);

const rec = recordingFetch();
const stream = new ShapeStream({ url, params: { table: t }, liveSse: true, fetchClient: rec.fetchClient });
const shape = new Shape(stream);
const rows = await shape.rows;
assert(rows.length === 3, `initial rows: ${show(rows)}`);

await psql(`INSERT INTO ${t} VALUES (4, 'four')`);
await waitRows(shape, (rs) => rs.some((r) => r.id === 4), 'SSE live insert');
await psql(`UPDATE ${t} SET title = 'one' WHERE id = 1; DELETE FROM ${t} WHERE id = 2;`);
await waitRows(shape, (rs) => rs.find((r) => r.id === 1)?.title === 'one' && !rs.some((r) => r.id === 2), 'SSE live update + delete');
const sse = rec.requests.filter((r) => r.url.includes('live_sse=true'));
assert(sse.length >= 1 && sse.every((r) => r.status === 200), `SSE requests: ${show(sse)}`);
assert(sse.some((r) => (r.contentType ?? '').startsWith('text/event-stream')), `SSE content type: ${show(sse)}`);
log('SSE live ok');

// Outlive the server's SSE timeout twice, with a change in between.
await sleep((sseTimeoutS + 1) * 1000);
await psql(`INSERT INTO ${t} VALUES (5, 'five')`);
await waitRows(shape, (rs) => rs.some((r) => r.id === 5), 'insert after the first SSE timeout');
await sleep((sseTimeoutS + 1) * 1000);
await psql(`INSERT INTO ${t} VALUES (6, 'six'); UPDATE ${t} SET title = 'five!' WHERE id = 5;`);
await waitRows(shape, (rs) => rs.find((r) => r.id === 5)?.title === 'five!' && rs.some((r) => r.id === 6), 'changes after the second SSE timeout');
const sseAfter = rec.requests.filter((r) => r.url.includes('live_sse=true'));
const longPolls = rec.requests.filter((r) => r.url.includes('live=true') && !r.url.includes('live_sse=true'));
assert(sseAfter.length >= 3, `expected reconnects after the SSE timeout, got ${sseAfter.length} SSE requests`);
assert(longPolls.length === 0, `the client fell back to long-polling: ${show(longPolls.slice(0, 3))}`);
const final = (await psql(`SELECT string_agg(id || ':' || title, ',' ORDER BY id) FROM ${t}`)).trim();
const got = shape.currentRows
  .sort((a, b) => a.id - b.id)
  .map((r) => `${r.id}:${r.title}`)
  .join(',');
assert(got === final, `rows ${got} differ from the table ${final}`);

// Raw SSE headers.
const first = await shapeFetch({ table: t, offset: '-1' });
const handle = first.headers.get('electric-handle');
const ctl = new AbortController();
const res = await fetch(`${url}?table=${t}&offset=${encodeURIComponent(stream.lastOffset)}&handle=${handle}&live=true&live_sse=true`, { signal: ctl.signal });
assert(res.status === 200 && res.headers.get('content-type').startsWith('text/event-stream'), `raw SSE: ${res.status} ${res.headers.get('content-type')}`);
assert(res.headers.get('electric-cursor') && res.headers.get('electric-handle') === handle, 'raw SSE: cursor and handle headers');
assert(/^public, max-age=\d+$/.test(res.headers.get('cache-control') ?? ''), `SSE cache-control: ${res.headers.get('cache-control')}`);
ctl.abort();
log(`reconnects ok (${sseAfter.length} SSE requests)`);
await psql(`DROP TABLE ${t}`);
pass('sse');
