// The seed's media library (schema/*.sql at the repo root) as a fixture, loaded into a schema of
// its own: playlist_items (composite key playlist_id, song_id) syncs with keys in PK order, and
// songs filtered by `metadata->>'artist'` follow inserts and artist changes live.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, pass, overallTimeout, psql, assert } from '../lib.mjs';
import { shapeUrl, uniqueName, show, waitRows, psqlFile, shapeFetch } from './shapelib.mjs';

overallTimeout(90);
const url = shapeUrl();
const schemaDir = process.env.MEDIA_SCHEMA_DIR || join(dirname(fileURLToPath(import.meta.url)), '../../../schema');
const s = uniqueName('media');
await psql(`CREATE SCHEMA ${s}`);
for (const f of readdirSync(schemaDir).filter((f) => f.endsWith('.sql')).sort()) await psqlFile(join(schemaDir, f), s);
log(`loaded ${schemaDir} into schema ${s}`);

// playlist_items: composite key.
const head = await shapeFetch({ table: `${s}.playlist_items`, offset: '-1' });
assert(head.status === 200, `playlist_items: ${head.status} ${head.text}`);
const schema = JSON.parse(head.headers.get('electric-schema'));
assert(schema.playlist_id.pk_index === 0 && schema.song_id.pk_index === 1 && schema.playlist_id.type === 'uuid', `schema: ${show(schema)}`);
const items = new Shape(new ShapeStream({ url, params: { table: `${s}.playlist_items` } }));
let rows = await items.rows;
const seeded = Number((await psql(`SELECT count(*) FROM ${s}.playlist_items`)).trim());
assert(rows.length === seeded && seeded > 0, `playlist_items rows ${rows.length}, table ${seeded}`);
const keyed = head.json.find((m) => m.key);
assert(keyed.key === `"${s}"."playlist_items"/"${keyed.value.playlist_id}"/"${keyed.value.song_id}"`, `composite key: ${keyed.key}`);

// songs by artist (JSONB).
const songs = new Shape(new ShapeStream({ url, params: { table: `${s}.songs`, where: "metadata->>'artist' = $1", params: ['Randomer'], columns: ['id', 'title', 'metadata'] } }));
rows = await songs.rows;
assert(rows.length === 1 && rows[0].title === 'Quiet Storm' && rows[0].metadata.tags[0] === 'late' && typeof rows[0].id === 'bigint', `songs by artist: ${show(rows)}`);

await psql(`INSERT INTO ${s}.songs (title, artist, metadata) VALUES ('Second', 'Randomer', '{"artist": "Randomer"}'), ('Other', 'X', '{"artist": "X"}');
  INSERT INTO ${s}.playlist_items (playlist_id, song_id, position) SELECT p.id, s.id, 99 FROM ${s}.playlists p, ${s}.songs s WHERE s.title = 'Second';`);
await waitRows(songs, (rs) => rs.length === 2 && rs.some((r) => r.title === 'Second'), 'a new song by the artist');
await waitRows(items, (rs) => rs.length === seeded + 1 && rs.some((r) => r.position === 99), 'a new playlist item');
await psql(`UPDATE ${s}.songs SET metadata = metadata || '{"artist": "Someone"}' WHERE title = 'Quiet Storm';
  UPDATE ${s}.songs SET metadata = '{"artist": "Randomer", "bpm": 90}' WHERE title = 'Other';`);
await waitRows(songs, (rs) => rs.length === 2 && rs.some((r) => r.title === 'Other' && r.metadata.bpm === 90) && !rs.some((r) => r.title === 'Quiet Storm'), 'artist changes move songs');
await psql(`DELETE FROM ${s}.playlists`);
await waitRows(items, (rs) => rs.length === 0, 'cascade delete of playlist items');
log('media library ok');
await psql(`DROP SCHEMA ${s} CASCADE`);
pass('media');
