// Shape rotation: TRUNCATE, `DELETE /v1/shape?handle=...` and ALTER TABLE ADD COLUMN each make
// the server answer 409 must-refetch with a new handle; the client re-syncs from scratch and its
// Shape holds the table's rows afterwards.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, pass, overallTimeout, psql, assert } from '../lib.mjs';
import { shapeUrl, uniqueName, show, waitRows, waitUntil, recordingFetch, shapeFetch } from './shapelib.mjs';

overallTimeout(90);
const url = shapeUrl();
const t = uniqueName('shape_refetch');
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text); INSERT INTO ${t} SELECT g, 'row ' || g FROM generate_series(1, 5) g;`);

const rec = recordingFetch();
const stream = new ShapeStream({ url, params: { table: t }, fetchClient: rec.fetchClient });
let refetches = 0;
stream.subscribe((ms) => {
  refetches += ms.filter((m) => m.headers?.control === 'must-refetch').length;
});
const shape = new Shape(stream);
assert((await shape.rows).length === 5, 'initial rows');
const handles = [stream.shapeHandle];

// Runs `action` (which rotates the shape), then waits for the client's must-refetch and re-sync.
async function rotated(what, action, pred) {
  const before = refetches; // counted before the action: the 409 may beat its response
  await action();
  await waitUntil(() => refetches > before, `${what}: must-refetch`);
  const rows = await waitRows(shape, pred, `${what}: rows after the re-sync`);
  assert(stream.shapeHandle && !handles.includes(stream.shapeHandle), `${what}: a new handle, got ${stream.shapeHandle} after ${show(handles)}`);
  handles.push(stream.shapeHandle);
  assert(rec.requests.some((r) => r.status === 409), `${what}: the server answered 409`);
  return rows;
}

// TRUNCATE: the rows go, later inserts come.
await rotated('truncate', () => psql(`TRUNCATE ${t}`), (rs) => rs.length === 0);
await psql(`INSERT INTO ${t} VALUES (10, 'ten'), (11, 'eleven')`);
await waitRows(shape, (rs) => rs.length === 2 && rs.some((r) => r.id === 11), 'insert after truncate');
log('truncate ok');

// DELETE /v1/shape?handle=...: 202, the next request of the client gets 409.
await rotated(
  'DELETE',
  async () => {
    const del = await fetch(`${url}?handle=${encodeURIComponent(stream.shapeHandle)}`, { method: 'DELETE' });
    assert(del.status === 202, `DELETE by handle: ${del.status} ${await del.text()}`);
  },
  (rs) => rs.length === 2,
);
await psql(`UPDATE ${t} SET title = 'TEN' WHERE id = 10`);
await waitRows(shape, (rs) => rs.find((r) => r.id === 10)?.title === 'TEN', 'update after DELETE');
const again = await fetch(`${url}?handle=${encodeURIComponent(handles[1])}`, { method: 'DELETE' });
assert(again.status === 404, `DELETE of a gone handle: ${again.status}`);
log('DELETE ok');

// DELETE by definition.
await rotated(
  'DELETE by table',
  async () => {
    const byDef = await fetch(`${url}?table=${t}`, { method: 'DELETE' });
    assert(byDef.status === 202, `DELETE by table: ${byDef.status} ${await byDef.text()}`);
  },
  (rs) => rs.length === 2,
);
log('DELETE by definition ok');

// ALTER TABLE ADD COLUMN: a schema change rotates the shape; the new column appears.
await rotated(
  'add column',
  async () => {
    await psql(`ALTER TABLE ${t} ADD COLUMN plays int DEFAULT 7`);
    await psql(`INSERT INTO ${t} VALUES (12, 'twelve', 12)`);
  },
  (rs) => rs.length === 3 && rs.every((r) => 'plays' in r) && rs.find((r) => r.id === 12)?.plays === 12);
const schema = JSON.parse((await shapeFetch({ table: t, offset: '-1' })).headers.get('electric-schema'));
assert(schema.plays?.type === 'int4', `schema after ADD COLUMN: ${show(schema)}`);
await psql(`UPDATE ${t} SET plays = 8 WHERE id = 10`);
await waitRows(shape, (rs) => rs.find((r) => r.id === 10)?.plays === 8, 'update of the new column');
log('add column ok');

// A stale handle at a live offset gets 409 with the current handle.
const stale = await shapeFetch({ table: t, handle: handles[0], offset: '0_inf' });
assert(stale.status === 409 && stale.json?.[0]?.headers?.control === 'must-refetch', `stale handle: ${stale.status} ${stale.text}`);
assert(stale.headers.get('electric-handle') === stream.shapeHandle, `409 names the current handle: ${stale.headers.get('electric-handle')}`);
await psql(`DROP TABLE ${t}`);
pass(`refetch (${handles.length} handles)`);
