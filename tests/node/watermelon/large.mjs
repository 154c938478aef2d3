// Large pulls with the real WatermelonDB client (an eddy with large.toml: pulls past 64 KiB are
// streamed): a first sync of 50,000 rows and an incremental pull of 10,000 changed rows arrive
// chunked and gzip-compressed, the client applies them whole, and ends consistent.
import { overallTimeout, pass, assert } from '../lib.mjs';
import {
  Client, makeDatabase, newId, localRows, expectClientEqualsServer, checkNoClientErrors, psql,
  log, fail, show, waitUntil,
} from './wmlib.mjs';

overallTimeout(200);
const T = 'wm_large';
const ROWS = Number(process.env.LARGE_ROWS ?? 50000);
const run = newId().slice(0, 6);

await psql(
  `INSERT INTO ${T} (id, title, done, estimate, meta) SELECT '${run}' || lpad(g::text, 8, '0'), ` +
    `repeat(md5(g::text), 3), g % 2 = 0, g / 4.0, jsonb_build_object('g', g, 'run', '${run}') ` +
    `FROM generate_series(1, ${ROWS}) g`,
);

// The change stream has recorded them (eddy's metadata, large.toml's schema), so that the first
// pull carries them all.
const recorded = async (where) => Number(await psql(
  `SELECT count(*) FROM eddy_sync_large.meta WHERE tbl = 'public.${T}' AND id LIKE '${run}%' AND ${where}`));
await waitUntil(async () => (await recorded('true')) >= ROWS, 'the rows in the sync metadata', 60000);

const streamed = (pull) => pull.transfer === 'chunked' && pull.encoding === 'gzip';

const a = new Client(makeDatabase({ tables: [T] }), `large-a-${run}`);
let started = performance.now();
await a.sync();
log(`first sync of ${ROWS} rows: ${Math.round(performance.now() - started)} ms`);
const first = a.pulls[0];
assert(first.lastPulledAt === null, `first pull: ${show(first.lastPulledAt)}`);
assert(streamed(first), `a large first pull is streamed and gzipped: ${first.transfer} ${first.encoding}`);
const created = first.response.changes[T].created.length;
assert(created >= ROWS, `the first pull carries every row: ${created} of ${ROWS}`);
assert((await localRows(a.db, T)).size >= ROWS, 'every row is in the client database');
await expectClientEqualsServer(a, T);
log('first sync ok');

// 10,000 rows change on the server: one incremental pull, streamed too.
await psql(`UPDATE ${T} SET title = 'changed ' || id, done = NOT done WHERE id LIKE '${run}%' AND id <= '${run}' || lpad('10000', 8, '0')`);
const since = first.response.timestamp;
await waitUntil(async () => (await recorded(`version > ${since}`)) >= 10000, 'the changes in the sync metadata', 60000);
started = performance.now();
await a.sync();
log(`incremental pull: ${Math.round(performance.now() - started)} ms`);
const incremental = a.lastPull();
assert(incremental.lastPulledAt !== null, 'the second pull is incremental');
const updated = incremental.response.changes[T].updated.length;
assert(updated >= 10000, `the incremental pull carries the 10,000 changed rows: ${updated}`);
assert(streamed(incremental), `a large incremental pull is streamed and gzipped: ${incremental.transfer} ${incremental.encoding}`);
await expectClientEqualsServer(a, T);

// A small pull is answered whole.
await a.sync();
const small = a.lastPull();
assert(small.transfer !== 'chunked', `a small pull is answered whole: ${small.transfer}`);

const d = await a.diagnose();
if (d.issueCount !== 0) fail(`diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
checkNoClientErrors();
pass('large pulls: streamed, gzipped, applied whole');
