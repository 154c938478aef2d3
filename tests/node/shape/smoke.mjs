// The real @electric-sql/client against eddy's Shape API: initial sync, live insert / update /
// delete, where with params, columns. EDDY_URL and DATABASE_URL as for the other scripts.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, fail, pass, overallTimeout, eddyUrl, psql, sleep, assert } from '../lib.mjs';

overallTimeout(60);
const url = `${eddyUrl()}/v1/shape`;
const t = `shape_smoke_${Date.now().toString(36)}`;
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text NOT NULL, n int8, tags text[], meta jsonb, ok bool);
            INSERT INTO ${t} SELECT g, 'song ' || g, g * 10, ARRAY['a','b'], '{"artist":"x"}', true FROM generate_series(1, 5) g;`);

async function waitFor(shape, pred, what) {
  for (let i = 0; i < 100; i++) {
    const rows = await shape.rows;
    if (pred(rows)) return rows;
    await sleep(100);
  }
  fail(`timed out waiting for ${what}: ${JSON.stringify(await shape.rows, (k, v) => (typeof v === "bigint" ? `${v}n` : v))}`);
}

const stream = new ShapeStream({ url, params: { table: t } });
const shape = new Shape(stream);
let rows = await shape.rows;
assert(rows.length === 5, `initial sync: 5 rows, got ${rows.length}`);
const r1 = rows.find((r) => r.id === 1);
assert(r1.title === 'song 1' && r1.n === 10n && r1.tags[1] === 'b' && r1.meta.artist === 'x' && r1.ok === true,
  `typed values: ${JSON.stringify(r1, (k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
log('initial sync ok');

await psql(`INSERT INTO ${t} VALUES (6, 'six', 60, '{}', null, false)`);
await waitFor(shape, (rs) => rs.some((r) => r.id === 6), 'insert');
await psql(`UPDATE ${t} SET title = 'one' WHERE id = 1`);
await waitFor(shape, (rs) => rs.find((r) => r.id === 1)?.title === 'one', 'update');
await psql(`DELETE FROM ${t} WHERE id = 2`);
await waitFor(shape, (rs) => !rs.some((r) => r.id === 2), 'delete');
log('live ok');

const filtered = new Shape(new ShapeStream({ url, params: { table: t, where: 'n > $1', params: ['30'], columns: ['id', 'title'] } }));
rows = await filtered.rows;
assert(rows.length === 3 && rows.every((r) => Object.keys(r).length === 2), `where + columns: ${JSON.stringify(rows)}`);
await psql(`UPDATE ${t} SET n = 5 WHERE id = 4`);
await waitFor(filtered, (rs) => !rs.some((r) => r.id === 4), 'move out');
await psql(`UPDATE ${t} SET n = 500 WHERE id = 1`);
await waitFor(filtered, (rs) => rs.some((r) => r.id === 1 && r.title === 'one'), 'move in');
log('where ok');
stream.unsubscribeAll();
filtered.unsubscribeAll?.();
await psql(`DROP TABLE ${t}`);
pass('smoke');
