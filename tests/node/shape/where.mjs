// Shape definitions: `where` with params of several types, `columns`, `replica: 'full'` (updates
// carry the full row and `old_value`), `offset: 'now'` (no initial rows, then live), and eddy's
// JSONB operators (`->>`, `@>`, `?`, `->`), each initial and live.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, fail, pass, overallTimeout, psql, assert } from '../lib.mjs';
import { shapeUrl, uniqueName, show, waitRows, waitUntil } from './shapelib.mjs';

overallTimeout(90);
const url = shapeUrl();
const t = uniqueName('shape_where');
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text, n int8, f float8, day date, at timestamptz,
    u uuid, ok bool, tags text[], metadata jsonb, extra text);
  INSERT INTO ${t} SELECT g, 'song ' || g, g * 10, g / 4.0, DATE '2024-01-01' + g, TIMESTAMPTZ '2024-01-01 00:00:00Z' + g * INTERVAL '1 hour',
    ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, g % 2 = 0, ARRAY['t' || g],
    jsonb_build_object('artist', CASE WHEN g <= 3 THEN 'Randomer' ELSE 'Other' END, 'bpm', 120 + g * 4)
      || CASE WHEN g = 5 THEN '{"tags": ["late"]}'::jsonb ELSE '{}'::jsonb END,
    'x' FROM generate_series(1, 8) g;`);

const ids = (rows) =>
  rows
    .map((r) => r.id)
    .sort((a, b) => a - b)
    .join(',');

async function expectIds(params, want, what, extra = {}) {
  const shape = new Shape(new ShapeStream({ url, params: { table: t, ...params }, ...extra }));
  const rows = await shape.rows;
  if (ids(rows) !== want) fail(`${what}: ids ${ids(rows)}, expected ${want}; params ${show(params)}`);
  return shape;
}

// where + params of several types; the client sends params as params[n]=...
const cases = [
  [{ where: 'title = $1', params: ['song 3'] }, '3', 'text param'],
  [{ where: 'n >= $1 AND n < $2', params: ['30', '60'] }, '3,4,5', 'int8 params'],
  [{ where: 'f > $1', params: ['1.5'] }, '7,8', 'float param'],
  [{ where: 'day <= $1', params: ['2024-01-03'] }, '1,2', 'date param'],
  [{ where: 'at > $1', params: ['2024-01-01T06:00:00Z'] }, '7,8', 'timestamptz param'],
  [{ where: 'u = $1', params: ['00000000-0000-0000-0000-000000000004'] }, '4', 'uuid param'],
  [{ where: 'ok = $1 AND id IN ($2, $3, $4)', params: ['true', '1', '2', '4'] }, '2,4', 'bool and IN params'],
  [{ where: "title LIKE 'song _' AND NOT (id BETWEEN 2 AND 7)" }, '1,8', 'LIKE and BETWEEN'],
  [{ where: `$1 = ANY(tags)`, params: ['t6'] }, '6', 'ANY(array) param'],
];
const shapes = [];
for (const [params, want, what] of cases) shapes.push(await expectIds(params, want, what));
log('where with params ok');

// JSONB operators, beyond Electric.
const byArtist = await expectIds({ where: "metadata->>'artist' = $1", params: ['Randomer'] }, '1,2,3', 'metadata->>artist');
const byBpm = await expectIds({ where: `metadata @> '{"bpm":128}'` }, '2', 'metadata @>');
const byTag = await expectIds({ where: "metadata ? 'tags'" }, '5', 'metadata ? key');
const byArrow = await expectIds({ where: "(metadata->'bpm')::text = '140'" }, '5', 'metadata -> key');
log('jsonb initial ok');

// columns and replica full.
const columnsShape = await expectIds({ columns: ['id', 'title'], where: 'id <= 2' }, '1,2', 'columns');
assert(
  columnsShape.currentRows.every((r) => Object.keys(r).sort().join(',') === 'id,title'),
  `columns: ${show(columnsShape.currentRows)}`,
);
const fullStream = new ShapeStream({ url, params: { table: t, replica: 'full', where: 'id <= 3' } });
const fullMessages = [];
fullStream.subscribe((ms) => fullMessages.push(...ms));
const fullShape = new Shape(fullStream);
await fullShape.rows;
const defaultStream = new ShapeStream({ url, params: { table: t, where: 'id <= 3' } });
const defaultMessages = [];
defaultStream.subscribe((ms) => defaultMessages.push(...ms));
const defaultShape = new Shape(defaultStream);
await defaultShape.rows;
assert(fullStream.shapeHandle !== defaultStream.shapeHandle, 'replica=full is a shape of its own (own handle)');

// offset now: no initial rows, then live.
const nowStream = new ShapeStream({ url, params: { table: t }, offset: 'now' });
const nowMessages = [];
nowStream.subscribe((ms) => nowMessages.push(...ms));
const nowShape = new Shape(nowStream);
await waitUntil(() => nowStream.isUpToDate, 'offset now: up-to-date');
assert(nowShape.currentRows.length === 0, `offset now: no initial rows, got ${show(nowShape.currentRows)}`);

// Live changes.
await psql(`UPDATE ${t} SET title = 'Song Two', extra = 'y' WHERE id = 2`);
await waitRows(fullShape, (rs) => rs.find((r) => r.id === 2)?.title === 'Song Two', 'replica full update');
const fullUpdate = fullMessages.find((m) => m.headers?.operation === 'update');
assert(fullUpdate, `replica full: an update message; got ${show(fullMessages)}`);
assert(Object.keys(fullUpdate.value).length === 11 && fullUpdate.value.n === 20n, `replica full: full new row, got ${show(fullUpdate.value)}`);
assert(show(fullUpdate.old_value) === show({ title: 'song 2', extra: 'x' }) || show(fullUpdate.old_value) === show({ extra: 'x', title: 'song 2' }),
  `replica full: old_value has the changed columns' old values, got ${show(fullUpdate.old_value)}`);
await waitRows(defaultShape, (rs) => rs.find((r) => r.id === 2)?.title === 'Song Two', 'default update');
const defaultUpdate = defaultMessages.find((m) => m.headers?.operation === 'update');
assert(defaultUpdate && !defaultUpdate.old_value && Object.keys(defaultUpdate.value).sort().join(',') === 'extra,id,title',
  `replica default: PK + changed columns, got ${show(defaultUpdate)}`);
await psql(`DELETE FROM ${t} WHERE id = 3`);
await waitRows(fullShape, (rs) => !rs.some((r) => r.id === 3), 'replica full delete');
const fullDelete = fullMessages.find((m) => m.headers?.operation === 'delete');
assert(fullDelete && Object.keys(fullDelete.value).length === 11, `replica full: delete carries the old row, got ${show(fullDelete)}`);
log('replica full ok');

await waitRows(nowShape, (rs) => rs.length === 1 && rs[0].id === 2 && rs[0].title === 'Song Two', 'offset now: live update', 15000);
assert(!nowMessages.some((m) => m.headers?.operation === 'insert'), `offset now: no snapshot inserts: ${show(nowMessages).slice(0, 500)}`);
log('offset now ok');

// JSONB live: into and out of the shapes.
await psql(`INSERT INTO ${t} (id, title, metadata) VALUES (20, 'new', '{"artist": "Randomer", "bpm": 128, "tags": []}')`);
await waitRows(byArtist, (rs) => ids(rs) === '1,2,20', 'jsonb ->> live insert');
await waitRows(byBpm, (rs) => ids(rs) === '2,20', 'jsonb @> live insert');
await waitRows(byTag, (rs) => ids(rs) === '5,20', 'jsonb ? live insert');
await psql(`UPDATE ${t} SET metadata = metadata || '{"artist": "Other", "bpm": 140}' WHERE id = 1`);
await waitRows(byArtist, (rs) => ids(rs) === '2,20', 'jsonb ->> move out');
await waitRows(byArrow, (rs) => ids(rs) === '1,5', 'jsonb -> move in');
await waitRows(byBpm, (rs) => ids(rs) === '2,20', 'jsonb @> unchanged');
log('jsonb live ok');

// A param shape live: move in by update of the filtered column.
await psql(`UPDATE ${t} SET title = 'song 3' WHERE id = 20`);
await waitRows(shapes[0], (rs) => ids(rs) === '20', 'text param: move in (row 3 was deleted)');
await psql(`DROP TABLE ${t}`);
pass('where');
