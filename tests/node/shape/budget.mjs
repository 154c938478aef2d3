// Against an eddy with shapes.max_shapes = 2: the least recently read shape is removed (its
// handle answers 409 with a new handle), the others stay, and /metrics counts it.
import { assert, eddyUrl, log, overallTimeout, pass, psql, sleep } from '../lib.mjs';

overallTimeout(60);
const base = eddyUrl();
await psql(`DROP TABLE IF EXISTS shape_budget; CREATE TABLE shape_budget (id int PRIMARY KEY, n int);
  INSERT INTO shape_budget SELECT g, g FROM generate_series(1, 10) g;`);

async function create(where) {
  const res = await fetch(`${base}/v1/shape?table=shape_budget&offset=-1&where=${encodeURIComponent(where)}`);
  const body = await res.text();
  assert(res.status === 200, `create ${where}: ${res.status} ${body}`);
  return { where, handle: res.headers.get('electric-handle'), offset: res.headers.get('electric-offset') };
}
async function statusOf(shape) {
  const res = await fetch(`${base}/v1/shape?table=shape_budget&offset=${shape.offset}&handle=${shape.handle}&where=${encodeURIComponent(shape.where)}`);
  await res.text();
  return { status: res.status, handle: res.headers.get('electric-handle') };
}

const a = await create('n > 1');
await sleep(1100);
const b = await create('n > 2');
await sleep(1100);
const c = await create('n > 3');
log('three shapes created; waiting for housekeeping');
let evicted = false;
for (let i = 0; i < 30 && !evicted; i++) {
  await sleep(500);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  evicted = /eddy_shapes_evictions_total [1-9]/.test(metrics);
}
assert(evicted, 'eddy_shapes_evictions_total did not move');
const gone = await statusOf(a);
assert(gone.status === 409 && gone.handle && gone.handle !== a.handle, `oldest shape: ${JSON.stringify(gone)}`);
for (const kept of [b, c]) {
  const s = await statusOf(kept);
  assert(s.status === 200, `recent shape kept: ${JSON.stringify(s)}`);
}
pass('budget');
