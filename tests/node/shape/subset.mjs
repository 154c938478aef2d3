// log: 'changes_only' with subset snapshots: `stream.requestSnapshot(...)` and
// `stream.fetchSnapshot(...)`, sent as GET subset__* parameters and as a POST body, with where,
// params, order_by, limit and offset; and a snapshot taken while a writer commits loses and
// duplicates nothing.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, fail, pass, overallTimeout, psql, assert, sleep } from '../lib.mjs';
import { shapeUrl, uniqueName, show, waitRows, waitUntil, recordingFetch, shapeFetch } from './shapelib.mjs';

overallTimeout(120);
const url = shapeUrl();
const t = uniqueName('shape_subset');
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text NOT NULL, n int, grp text);
  INSERT INTO ${t} SELECT g, 'row ' || g, g, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 30) g;`);

const ids = (rows) =>
  rows
    .map((r) => r.id)
    .sort((a, b) => a - b)
    .join(',');

for (const method of ['GET', 'POST']) {
  const rec = recordingFetch();
  const stream = new ShapeStream({ url, params: { table: t }, log: 'changes_only', subsetMethod: method, fetchClient: rec.fetchClient });
  const shape = new Shape(stream);
  await waitUntil(() => stream.isUpToDate, `${method}: changes_only up-to-date`);
  assert(shape.currentRows.length === 0, `${method}: changes_only syncs no initial rows, got ${shape.currentRows.length}`);

  // fetchSnapshot: returns the rows without touching the stream.
  const fetched = await stream.fetchSnapshot({ where: 'grp = $1', params: { 1: 'a' }, orderBy: 'n DESC', limit: 4, offset: 1 });
  const fetchedIds = fetched.data.map((m) => m.value.id).join(',');
  assert(fetchedIds === '27,24,21,18', `${method} fetchSnapshot order/limit/offset: ${fetchedIds}`);
  assert(/^[0-9]+$/.test(fetched.metadata.xmin) && Array.isArray(fetched.metadata.xip_list), `metadata: ${show(fetched.metadata)}`);
  assert(shape.currentRows.length === 0, `${method}: fetchSnapshot must not inject rows`);

  // requestSnapshot: the rows go into the Shape; changes to them follow live.
  await shape.requestSnapshot({ where: 'n <= $1', params: { 1: 5 }, orderBy: 'id', limit: 3 });
  await waitRows(shape, (rs) => ids(rs) === '1,2,3', `${method} requestSnapshot rows`);
  const subsetRequests = rec.requests.filter((r) => r.url.includes('subset__') || r.method === 'POST');
  assert(subsetRequests.length >= 2 && subsetRequests.every((r) => r.method === method && r.status === 200),
    `${method}: subset requests ${show(subsetRequests)}`);
  await psql(`UPDATE ${t} SET title = 'changed' WHERE id = 2; UPDATE ${t} SET title = 'not in shape' WHERE id = 10;`);
  await waitRows(shape, (rs) => rs.find((r) => r.id === 2)?.title === 'changed', `${method}: live update of a snapshot row`);
  await sleep(300);
  assert(!shape.currentRows.some((r) => r.id === 10), `${method}: an update of a row never loaded is not a row`);
  await psql(`UPDATE ${t} SET title = 'row 2' WHERE id = 2; UPDATE ${t} SET title = 'row 10' WHERE id = 10;`);
  stream.unsubscribeAll();
  log(`${method} subset ok`);
}

// Raw: GET subset__* and POST body forms answer {metadata, data} with no-cache.
const head = await shapeFetch({ table: t, offset: '-1', log: 'changes_only' });
const handle = head.headers.get('electric-handle');
const get = await shapeFetch({ table: t, offset: '-1', log: 'changes_only', subset__where: 'id < 3', subset__order_by: 'id' });
assert(get.status === 200 && get.json?.data?.length === 2 && get.headers.get('electric-snapshot') === 'true', `GET subset: ${get.status} ${get.text.slice(0, 300)}`);
assert(get.headers.get('cache-control') === 'no-cache', `subset cache-control: ${get.headers.get('cache-control')}`);
assert(get.headers.get('electric-handle') === handle && get.headers.get('electric-schema'), 'subset headers: handle and schema');
const post = await shapeFetch(
  { table: t, offset: '-1', log: 'changes_only' },
  { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ where: 'id > $1', params: { 1: '28' }, order_by: 'id DESC', limit: 5 }) },
);
assert(post.status === 200 && post.json?.data?.map((m) => m.value.id).join(',') === '30,29', `POST subset: ${post.status} ${post.text.slice(0, 300)}`);
const bad = await shapeFetch({ table: t, offset: '-1', log: 'changes_only', subset__limit: '3' });
assert(bad.status === 400, `limit without order_by: ${bad.status} ${bad.text}`);
log('raw subset forms ok');

// A snapshot while a writer commits: every row of the table ends up in the Shape exactly once.
await psql(`CREATE PROCEDURE ${t}_writer(count int) LANGUAGE plpgsql AS $$
  BEGIN FOR i IN 1..count LOOP
    INSERT INTO ${t} VALUES (1000 + i, 'w' || i, 1000 + i, 'c');
    UPDATE ${t} SET title = 'w' || i || ' updated' WHERE id = 1000 + i - 1;
    COMMIT; PERFORM pg_sleep(0.002);
  END LOOP; END $$;`);
const stream = new ShapeStream({ url, params: { table: t, where: "grp = 'c'" }, log: 'changes_only' });
const inserts = new Map();
stream.subscribe((ms) => {
  for (const m of ms) if (m.headers?.operation === 'insert') inserts.set(m.key, (inserts.get(m.key) ?? 0) + 1);
});
const shape = new Shape(stream);
await waitUntil(() => stream.isUpToDate, 'concurrent: up-to-date');
const writer = psql(`CALL ${t}_writer(400)`);
await sleep(300);
await shape.requestSnapshot({ where: 'true' });
await sleep(200);
await shape.requestSnapshot({ where: 'id > 1100', orderBy: 'id', limit: 50 });
await writer;
const want = (await psql(`SELECT id || ':' || title FROM ${t} WHERE grp = 'c' ORDER BY id`)).trim().split('\n');
const deadline = Date.now() + 15000;
while (Date.now() < deadline && shape.currentRows.length !== want.length) await sleep(50);
await sleep(500);
const got = shape.currentRows.map((r) => `${r.id}:${r.title}`).sort((a, b) => parseInt(a) - parseInt(b));
if (got.join('\n') !== want.join('\n')) {
  const missing = want.filter((w) => !got.includes(w));
  const extra = got.filter((g) => !want.includes(g));
  fail(`concurrent snapshot: ${got.length} rows, SELECT has ${want.length}; missing ${show(missing.slice(0, 10))} extra ${show(extra.slice(0, 10))}`);
}
const doubled = [...inserts].filter(([, c]) => c > 1);
// The second snapshot re-reads rows the first one delivered: the client merges those (insert
// over a known key), but each row must appear once per snapshot at most plus once live.
assert(doubled.every(([, c]) => c <= 3), `inserts per key: ${show(doubled.slice(0, 10))}`);
log(`concurrent snapshot ok (${want.length} rows)`);
await psql(`DROP TABLE ${t}; DROP PROCEDURE ${t}_writer;`);
pass('subset');
