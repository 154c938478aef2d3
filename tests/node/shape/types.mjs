// Every column type of the protocol notes (3.3) through ShapeStream and Shape: initial sync and
// live insert / update give the same parsed values, the electric-schema header carries the
// column facts (pk_index, not_null, dims, max_length, length, precision, scale), and composite
// keys, quoted mixed-case names and a table without a primary key sync too.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, fail, pass, overallTimeout, psql, assert } from '../lib.mjs';
import { shapeUrl, uniqueName, show, canon, waitRows, shapeFetch } from './shapelib.mjs';

overallTimeout(90);
const url = shapeUrl();
const t = uniqueName('shape_types');
const mood = `${t}_mood`;

await psql(`CREATE TYPE ${mood} AS ENUM ('sad', 'ok', 'happy');
  CREATE TABLE ${t} (
    id int4 PRIMARY KEY, i2 int2, i8 int8 NOT NULL, f4 float4, f8 float8, num numeric(10,2), b bool,
    tx text, vc varchar(8), bp bpchar(4), u uuid, d date, tm time, ts timestamp, tstz timestamptz(3),
    iv interval, iv2 interval day to second, by bytea, j json, jb jsonb, ia int4[], ia2 int4[][], ta text[],
    m ${mood}, ma ${mood}[], big int8[]);`);

const columns = `i2, i8, f4, f8, num, b, tx, vc, bp, u, d, tm, ts, tstz, iv, iv2, by, j, jb, ia, ia2, ta, m, ma, big`;
const values = `-12, 9223372036854775807, 1.5, 4.25, 12345678.91, true, 'caf\u00e9 "q" \\ back', 'eight ch', 'ab',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '12:34:56.5', '2024-01-02 03:04:05.25',
  '2024-01-02 03:04:05.123+02', '1 day 2 hours 3.5 seconds', '3 days 4 minutes', '\\x0001fffe',
  '{"foo": "bar",  "n": 1}', '{"foo": "bar", "n": [1, 2]}', '{1,NULL,3}', '{{1,2,3},{4,5,6}}',
  '{"a b","c,d",NULL,"e\\"f"}', 'happy', '{sad,ok}', '{-9223372036854775808,NULL}'`;
await psql(`INSERT INTO ${t} (id, ${columns}) VALUES (1, ${values})`);

// What the client must parse each column to.
function checkRow(row, what) {
  const expect = {
    i2: -12,
    i8: 9223372036854775807n,
    f4: 1.5,
    f8: 4.25,
    num: '12345678.91',
    b: true,
    tx: 'caf\u00e9 "q" \\ back',
    vc: 'eight ch',
    bp: 'ab  ',
    u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    d: '2024-02-29',
    tm: '12:34:56.5',
    ts: '2024-01-02 03:04:05.25',
    tstz: '2024-01-02 01:04:05.123+00',
    iv: 'P1DT2H3.5S',
    iv2: 'P3DT4M',
    by: '\\x0001fffe',
    j: { foo: 'bar', n: 1 },
    jb: { foo: 'bar', n: [1, 2] },
    ia: [1, null, 3],
    ia2: [
      [1, 2, 3],
      [4, 5, 6],
    ],
    ta: ['a b', 'c,d', null, 'e"f'],
    m: 'happy',
    ma: ['sad', 'ok'],
    big: [-9223372036854775808n, null],
  };
  for (const [k, v] of Object.entries(expect)) {
    if (canon(row[k]) !== canon(v)) fail(`${what}: column ${k} is ${show(row[k])}, expected ${show(v)}`);
  }
  if (typeof row.i8 !== 'bigint') fail(`${what}: int8 must parse to a BigInt`);
}

// electric-schema: the header of the initial response.
const first = await shapeFetch({ table: t, offset: '-1' });
assert(first.status === 200, `offset=-1: status ${first.status} ${first.text}`);
const schema = JSON.parse(first.headers.get('electric-schema'));
const schemaExpect = {
  id: { type: 'int4', pk_index: 0, not_null: true },
  i8: { type: 'int8', not_null: true },
  vc: { type: 'varchar', max_length: 8 },
  bp: { type: 'bpchar', length: 4 },
  num: { type: 'numeric', precision: 10, scale: 2 },
  tstz: { type: 'timestamptz', precision: 3 },
  ia: { type: 'int4', dims: 1 },
  ia2: { type: 'int4', dims: 2 },
  ta: { type: 'text', dims: 1 },
  m: { type: mood },
  ma: { type: mood, dims: 1 },
  jb: { type: 'jsonb' },
  tx: { type: 'text' },
};
for (const [k, v] of Object.entries(schemaExpect)) {
  if (canon(schema[k]) !== canon(v)) fail(`electric-schema.${k} is ${show(schema[k])}, expected ${show(v)}`);
}
assert(schema.iv2?.type === 'interval' && schema.iv2.fields === 'DAY TO SECOND', `interval fields: ${show(schema.iv2)}`);
log('electric-schema ok');

// Initial sync through ShapeStream + Shape.
const stream = new ShapeStream({ url, params: { table: t } });
const shape = new Shape(stream);
const messages = [];
stream.subscribe((ms) => messages.push(...ms));
let rows = await shape.rows;
assert(rows.length === 1, `initial rows: ${show(rows)}`);
checkRow(rows[0], 'snapshot row');
log('initial sync ok');

// Live insert of the same values, then updates of every kind of column.
await psql(`INSERT INTO ${t} (id, ${columns}) VALUES (2, ${values})`);
rows = await waitRows(shape, (rs) => rs.some((r) => r.id === 2), 'live insert');
checkRow(
  rows.find((r) => r.id === 2),
  'live row',
);
const b = messages.find((m) => m.headers?.operation === 'insert' && m.value.id === 2);
assert(typeof b.headers.lsn === 'string' && /^[0-9]+$/.test(b.headers.lsn), `lsn must be decimal: ${show(b.headers)}`);
assert(Array.isArray(b.headers.txids) && typeof b.headers.txids[0] === 'number', `txids: ${show(b.headers)}`);
assert(b.key === `"public"."${t}"/"2"`, `key: ${b.key}`);
await psql(`UPDATE ${t} SET b = false, ia2 = '{{7},{8}}', jb = '{"x": null}', ma = '{}', tx = NULL, big = NULL,
  tstz = '2030-06-01 00:00:00+00', num = -0.5, d = '1999-12-31' WHERE id = 2`);
rows = await waitRows(shape, (rs) => rs.find((r) => r.id === 2)?.b === false, 'live update');
const r2 = rows.find((r) => r.id === 2);
const want = { b: false, ia2: [[7], [8]], jb: { x: null }, ma: [], tx: null, big: null, tstz: '2030-06-01 00:00:00+00', num: '-0.50', d: '1999-12-31', i8: 9223372036854775807n };
for (const [k, v] of Object.entries(want)) {
  if (canon(r2[k]) !== canon(v)) fail(`live update: ${k} is ${show(r2[k])}, expected ${show(v)}`);
}
const upd = messages.find((m) => m.headers?.operation === 'update');
assert(upd && upd.value.id === 2 && !('i2' in upd.value), `default replica update carries the PK and changed columns: ${show(upd)}`);
log('live insert / update ok');

// A composite key with a slash in a key value, quoted mixed-case names, and no primary key.
const ck = `${t}_ck`;
await psql(`CREATE TABLE ${ck} (a int, b text, v text, PRIMARY KEY (b, a));
  INSERT INTO ${ck} VALUES (1, 'x/y', 'one'), (2, 'z', 'two');`);
const mixed = `${t}_Mixed Case`;
await psql(`CREATE TABLE "${mixed}" ("Id" int PRIMARY KEY, "Title Text" text, "camelCol" int);
  INSERT INTO "${mixed}" VALUES (1, 'First', 10);`);
const nopk = `${t}_nopk`;
await psql(`CREATE TABLE ${nopk} (a int, b text); INSERT INTO ${nopk} VALUES (1, 'one'), (2, NULL);`);

const ckHead = await shapeFetch({ table: ck, offset: '-1' });
const ckSchema = JSON.parse(ckHead.headers.get('electric-schema'));
assert(ckSchema.b.pk_index === 0 && ckSchema.a.pk_index === 1 && ckSchema.v.pk_index === undefined, `composite pk_index: ${show(ckSchema)}`);
const ckKey = ckHead.json.find((m) => m.value?.a === '1')?.key;
assert(ckKey === `"public"."${ck}"/"x//y"/"1"`, `composite key: ${ckKey}`);

const ckShape = new Shape(new ShapeStream({ url, params: { table: ck } }));
const mixedShape = new Shape(new ShapeStream({ url, params: { table: `public."${mixed}"`, columns: ['Id', 'Title Text'] } }));
const nopkShape = new Shape(new ShapeStream({ url, params: { table: nopk } }));
assert((await ckShape.rows).length === 2, `composite rows: ${show(ckShape.currentRows)}`);
rows = await mixedShape.rows;
assert(rows.length === 1 && rows[0].Id === 1 && rows[0]['Title Text'] === 'First' && !('camelCol' in rows[0]), `mixed-case rows: ${show(rows)}`);
rows = await nopkShape.rows;
assert(rows.length === 2 && rows.some((r) => r.a === 2 && r.b === null), `no-pk rows: ${show(rows)}`);

await psql(`INSERT INTO ${ck} VALUES (1, 'z', 'three'); UPDATE ${ck} SET v = 'uno' WHERE a = 1 AND b = 'x/y'; DELETE FROM ${ck} WHERE a = 2;`);
await waitRows(ckShape, (rs) => rs.length === 2 && rs.some((r) => r.v === 'uno') && rs.some((r) => r.v === 'three'), 'composite live changes');
await psql(`INSERT INTO "${mixed}" VALUES (2, 'Second', 20); UPDATE "${mixed}" SET "Title Text" = 'Primero' WHERE "Id" = 1;`);
await waitRows(mixedShape, (rs) => rs.length === 2 && rs.find((r) => r.Id === 1)?.['Title Text'] === 'Primero', 'mixed-case live changes');
await psql(`INSERT INTO ${nopk} VALUES (3, 'three'); UPDATE ${nopk} SET b = 'uno' WHERE a = 1; DELETE FROM ${nopk} WHERE a = 2;`);
await waitRows(
  nopkShape,
  (rs) => rs.length === 2 && rs.some((r) => r.a === 1 && r.b === 'uno') && rs.some((r) => r.a === 3),
  'no-pk live changes',
);
log('composite key, quoted names, no primary key ok');

await psql(`DROP TABLE ${t}, ${ck}, "${mixed}", ${nopk}; DROP TYPE ${mood};`);
pass('types');
