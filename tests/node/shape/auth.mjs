// Against an eddy with [auth] (HS256, secret in EDDY_SECRET), a row rule on public.shape_owned
// (owner = sub) and Electric's shared secret (EDDY_SHAPE_SECRET): the real client with a bearer
// token sees only its rows, live too; a where cannot escape the row rule; 401 / 403.
import { createHmac } from 'node:crypto';
import { ShapeStream, Shape } from '@electric-sql/client';
import { assert, eddyUrl, fail, log, overallTimeout, pass, psql, requireEnv, sleep } from '../lib.mjs';

overallTimeout(90);
const url = `${eddyUrl()}/v1/shape`;
const secret = requireEnv('EDDY_SECRET');
const shapeSecret = requireEnv('EDDY_SHAPE_SECRET');

function token(claims, key = secret) {
  const b64 = (s) => Buffer.from(s).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }));
  const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

await psql(`DROP TABLE IF EXISTS shape_owned; DROP TABLE IF EXISTS shape_secret_table;
  CREATE TABLE shape_owned (id int PRIMARY KEY, owner text NOT NULL, note text);
  CREATE TABLE shape_secret_table (id int PRIMARY KEY);
  INSERT INTO shape_owned VALUES (1, 'alice', 'a1'), (2, 'bob', 'b1'), (3, 'alice', 'a2');`);

async function status(query, headers = {}) {
  const res = await fetch(`${url}?${query}`, { headers });
  return { status: res.status, body: await res.text() };
}
const alice = { Authorization: `Bearer ${token({ sub: 'alice', role: 'user' })}` };

let r = await status(`table=shape_owned&offset=-1`, alice);
assert(r.status === 401 && r.body.includes('Invalid API secret'), `no secret: ${r.status} ${r.body}`);
r = await status(`table=shape_owned&offset=-1&secret=${shapeSecret}`);
assert(r.status === 401, `no token: ${r.status} ${r.body}`);
r = await status(`table=shape_owned&offset=-1&secret=${shapeSecret}`, {
  Authorization: `Bearer ${token({ sub: 'alice', role: 'user' }, 'x'.repeat(40))}` });
assert(r.status === 401, `forged token: ${r.status} ${r.body}`);
r = await status(`table=shape_secret_table&offset=-1&secret=${shapeSecret}`, alice);
assert(r.status === 403, `table without a rule: ${r.status} ${r.body}`);
log('401 / 403 ok');

async function rowsOf(shape) {
  return (await shape.rows).map((row) => row.id).sort();
}
const stream = new ShapeStream({ url, params: { table: 'shape_owned', secret: shapeSecret }, headers: alice });
const shape = new Shape(stream);
let ids = await rowsOf(shape);
assert(JSON.stringify(ids) === '[1,3]', `alice sees her rows only: ${ids}`);
await psql(`INSERT INTO shape_owned VALUES (4, 'bob', 'b2'), (5, 'alice', 'a3'); UPDATE shape_owned SET owner = 'bob' WHERE id = 1;`);
for (let i = 0; i < 100; i++) {
  ids = await rowsOf(shape);
  if (JSON.stringify(ids) === '[3,5]') break;
  await sleep(100);
}
assert(JSON.stringify(ids) === '[3,5]', `live: alice's rows are 3 and 5, got ${ids}`);
log('row rule ok, live');

// A where that tries to break out of the row rule still sees alice's rows only.
r = await status(`table=shape_owned&offset=-1&secret=${shapeSecret}&where=${encodeURIComponent('1=1) OR (1=1')}`, alice);
assert(r.status === 400 && r.body.includes('syntax error'), `where break-out is a syntax error: ${r.status} ${r.body}`);
const widened = new Shape(new ShapeStream({ url, params: { table: 'shape_owned', secret: shapeSecret,
  where: `owner = 'bob' OR true` }, headers: alice }));
const wide = (await widened.rows).map((x) => x.id).sort();
assert(JSON.stringify(wide) === '[3,5]', `OR true cannot widen the row rule: ${wide}`);
stream.unsubscribeAll();
pass('auth');
