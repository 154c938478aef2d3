// Shapes survive a restart of `eddy serve` (same data dir). Run twice around the restart:
//   PHASE=1: creates TABLE (env), syncs it, records handle and offset in STATE_FILE.
//   PHASE=2: (eddy restarted; the test inserted id 100 while it was down) resumes a ShapeStream
//            from the recorded handle and offset: the rows written meanwhile and later arrive
//            live, and no request gets 409. With DELETE_DISABLED, DELETE answers 405.
import { writeFileSync } from 'node:fs';
import { ShapeStream, Shape } from '@electric-sql/client';
import { log, pass, overallTimeout, psql, assert, requireEnv } from '../lib.mjs';
import { shapeUrl, show, waitRows, waitUntil, recordingFetch, readJson, shapeFetch } from './shapelib.mjs';

overallTimeout(60);
const url = shapeUrl();
const t = requireEnv('TABLE');
const stateFile = requireEnv('STATE_FILE');
const params = { table: t, where: 'id <> $1', params: ['13'] };

if (process.env.PHASE === '1') {
  await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text); INSERT INTO ${t} SELECT g, 'row ' || g FROM generate_series(1, 20) g;`);
  const stream = new ShapeStream({ url, params });
  const shape = new Shape(stream);
  assert((await shape.rows).length === 19, 'initial rows');
  await psql(`INSERT INTO ${t} VALUES (21, 'live')`);
  await waitRows(shape, (rs) => rs.length === 20, 'live insert before the restart');
  await waitUntil(() => stream.isUpToDate, 'up-to-date');
  writeFileSync(stateFile, JSON.stringify({ handle: stream.shapeHandle, offset: stream.lastOffset }));
  pass(`phase 1: handle ${stream.shapeHandle} offset ${stream.lastOffset}`);
}

const state = readJson(stateFile);
const rec = recordingFetch();
const stream = new ShapeStream({ url, params, handle: state.handle, offset: state.offset, fetchClient: rec.fetchClient });
const seen = [];
stream.subscribe((ms) => seen.push(...ms));
await waitUntil(() => seen.some((m) => m.key && m.value?.id === 100), 'the row inserted while eddy was down');
await psql(`INSERT INTO ${t} VALUES (101, 'after'); UPDATE ${t} SET title = 'one' WHERE id = 1; UPDATE ${t} SET title = 'filtered out' WHERE id = 13;`);
await waitUntil(() => seen.some((m) => m.key && m.value?.id === 1 && m.headers.operation === 'update'), 'live changes after the restart');
assert(!seen.some((m) => m.headers?.control === 'must-refetch'), `no must-refetch: ${show(seen)}`);
assert(!seen.some((m) => m.key && m.value?.id === 13), 'the where still filters after the restart');
assert(rec.requests.every((r) => r.status === 200 || r.status === null), `requests after the restart: ${show(rec.requests)}`);
assert(stream.shapeHandle === state.handle, `handle kept: ${stream.shapeHandle} vs ${state.handle}`);
const ids = seen.filter((m) => m.key).map((m) => m.value.id);
assert(ids.join(',') === '100,101,1', `exactly the changes after the recorded offset: ${ids.join(',')}`);
// A fresh client still gets the same handle and every row.
const fresh = new Shape(new ShapeStream({ url, params }));
const rows = await fresh.rows;
assert(fresh.handle === state.handle && rows.length === 22, `fresh client: ${fresh.handle} ${rows.length} rows`);
if (process.env.DELETE_DISABLED) {
  const r = await shapeFetch({ handle: state.handle }, { method: 'DELETE' });
  assert(r.status === 405 && r.json?.message === 'DELETE not allowed', `DELETE disabled: ${r.status} ${r.text}`);
}
log(`resumed at ${state.offset} with ${rec.requests.length} requests`);
pass('restart');
