// Initial sync of a table while writers commit inserts, updates and deletes to it: once the
// writers stop, the client's rows equal `SELECT` of the table (no gaps, no duplicates), for a
// full-table shape and for a filtered one whose rows move in and out.
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, fail, pass, overallTimeout, psql, sleep, assert } from '../lib.mjs';
import { shapeUrl, uniqueName, show } from './shapelib.mjs';

overallTimeout(120);
const url = shapeUrl();
const t = uniqueName('shape_conc');
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, n int NOT NULL, note text);
  INSERT INTO ${t} SELECT g, g % 10, repeat('x', 50) FROM generate_series(1, 20000) g;
  -- Each writer touches rows of its own parity, so the two never wait on each other.
  CREATE PROCEDURE ${t}_writer(first int, count int, parity int) LANGUAGE plpgsql AS $$
  BEGIN FOR i IN first..first + count - 1 LOOP
    INSERT INTO ${t} VALUES (100000 + i, i % 10, 'new');
    UPDATE ${t} SET n = (n + 1) % 10, note = 'moved ' || i WHERE id = (i * 7919) % 10000 * 2 + parity + 1;
    DELETE FROM ${t} WHERE id = (i * 104729) % 10000 * 2 + parity + 1;
    COMMIT; PERFORM pg_sleep(0.001);
  END LOOP; END $$;`);

const writers = [psql(`CALL ${t}_writer(1, 2500, 0)`), psql(`CALL ${t}_writer(3001, 2500, 1)`)];
await sleep(100);
const all = new Shape(new ShapeStream({ url, params: { table: t } }));
const inserts = new Map();
const filteredStream = new ShapeStream({ url, params: { table: t, where: 'n < 3' } });
const filtered = new Shape(filteredStream);
filteredStream.subscribe((ms) => {
  for (const m of ms) {
    if (m.headers?.operation !== 'insert') continue;
    if (inserts.has(m.key) && inserts.get(m.key) === 'in') fail(`filtered: a second insert of ${m.key} without a delete in between`);
    inserts.set(m.key, 'in');
  }
  for (const m of ms) if (m.headers?.operation === 'delete') inserts.set(m.key, 'out');
});
const writtenAtStart = await psql(`SELECT count(*) FROM ${t} WHERE id > 100000`);
await all.rows;
await filtered.rows;
const writtenAtSync = await psql(`SELECT count(*) FROM ${t} WHERE id > 100000`);
log(`writer transactions: ${writtenAtStart.trim()} when the sync began, ${writtenAtSync.trim()} when it was done, of 5000`);
assert(Number(writtenAtStart) < 5000, 'the writers must still run when the sync begins');
await Promise.all(writers);
log('writers done');

// The client may still be catching up with the writers' last commits (slow builds: sanitizers):
// it must reach SELECT's rows within 30 s and then stay there.
async function compare(shape, where, what) {
  const want = (await psql(`SELECT id || ':' || n || ':' || coalesce(note, '') FROM ${t} WHERE ${where} ORDER BY id`)).trim().split('\n');
  const rowsOf = () => shape.currentRows.map((r) => `${r.id}:${r.n}:${r.note ?? ''}`).sort((a, b) => parseInt(a) - parseInt(b));
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline && rowsOf().join('\n') !== want.join('\n')) await sleep(100);
  await sleep(300);
  const got = rowsOf();
  if (got.join('\n') !== want.join('\n')) {
    const g = new Set(got);
    const w = new Set(want);
    fail(`${what}: rows differ from SELECT; missing ${show(want.filter((x) => !g.has(x)).slice(0, 10))}, extra ${show(got.filter((x) => !w.has(x)).slice(0, 10))}`);
  }
  log(`${what}: ${got.length} rows equal SELECT`);
}
await compare(all, 'true', 'full table');
await compare(filtered, 'n < 3', 'where n < 3');
await psql(`DROP TABLE ${t}; DROP PROCEDURE ${t}_writer;`);
pass('concurrent');
