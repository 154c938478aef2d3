// Bad requests to /v1/shape get 400 (405, 404 for DELETE) with Electric's bodies, and none of
// them crashes or hangs eddy: a good request still works at the end.
import { log, fail, pass, overallTimeout, psql, assert, eddyUrl } from '../lib.mjs';
import { shapeUrl, uniqueName, show, shapeFetch } from './shapelib.mjs';

overallTimeout(60);
const url = shapeUrl();
const t = uniqueName('shape_bad');
await psql(`CREATE TABLE ${t} (id int PRIMARY KEY, title text); INSERT INTO ${t} VALUES (1, 'one');`);
const good = await shapeFetch({ table: t, offset: '-1' });
assert(good.status === 200, `the base request: ${good.status} ${good.text}`);
const handle = good.headers.get('electric-handle');

// [what, query, field, message (exact string, RegExp, or null for any)]
const cases = [
  ['bad where', { table: t, offset: '-1', where: '1 x 1' }, 'where', 'At location 17: syntax error at or near "x"'],
  ['unknown column in where', { table: t, offset: '-1', where: 'foo = 1' }, 'where', /unknown reference foo/],
  ['where not boolean', { table: t, offset: '-1', where: 'id + 1' }, 'where', /must return a boolean/],
  ['missing param', { table: t, offset: '-1', where: 'id = $1' }, 'where', /parameter \$1 was not provided/],
  ['unknown column in columns', { table: t, offset: '-1', columns: 'id,nope' }, 'columns', 'The following columns are not found on the table: nope'],
  ['columns without the pk', { table: t, offset: '-1', columns: 'title' }, 'columns', 'The list of columns must include all primary key columns, missing: id'],
  ['unknown table', { table: 'no_such_table_x', offset: '-1' }, 'table', /does not exist/],
  ['missing table', { offset: '-1' }, 'table', "can't be blank"],
  ['bad table identifier', { table: 'a.b.c', offset: '-1' }, 'table', /too many delimiters/],
  ['bad offset', { table: t, offset: 'banana' }, 'offset', 'has invalid format'],
  ['bad offset 10', { table: t, offset: '10' }, 'offset', 'has invalid format'],
  ['missing offset', { table: t }, 'offset', "can't be blank"],
  ['handle missing', { table: t, offset: '0_inf' }, 'handle', "can't be blank when offset != -1"],
  ['live with offset -1', { table: t, offset: '-1', live: 'true' }, 'live', "can't be true when offset == -1"],
  ['live_sse without live', { table: t, offset: '0_inf', handle, live_sse: 'true' }, 'live_sse', /unless live is also true/],
  ['bad replica', { table: t, offset: '-1', replica: 'half' }, 'replica', 'is invalid'],
  ['bad log', { table: t, offset: '-1', log: 'some' }, 'log', 'is invalid'],
  ['params not numbered', { table: t, offset: '-1', where: 'id = $1', 'params[a]': '1' }, 'params', /numbers as keys/],
];
for (const [what, query, field, message] of cases) {
  const r = await shapeFetch(query);
  if (r.status !== 400) fail(`${what}: status ${r.status}, expected 400; body ${r.text}`);
  const errors = r.json?.errors?.[field];
  if (r.json?.message !== 'Invalid request' || !Array.isArray(errors)) fail(`${what}: body ${r.text}`);
  const ok = message === null || errors.some((e) => (message instanceof RegExp ? message.test(e) : e === message));
  if (!ok) fail(`${what}: errors.${field} is ${show(errors)}, expected ${message}`);
  assert((r.headers.get('content-type') ?? '').startsWith('application/json'), `${what}: content type`);
  assert(r.headers.get('cache-control') === 'no-store', `${what}: cache-control ${r.headers.get('cache-control')}`);
}
log(`${cases.length} GET cases ok`);

// Offset beyond the shape's end.
const oob = await shapeFetch({ table: t, offset: '999999999999_0', handle });
assert(oob.status === 400 && show(oob.json?.errors?.offset) === show(['out of bounds for this shape']), `out of bounds: ${oob.status} ${oob.text}`);

// POST bodies.
async function post(body) {
  return shapeFetch({ table: t, offset: '-1' }, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}
let r = await post('[1, 2]');
assert(r.status === 400 && r.json?.error === 'Request body must be a JSON object', `POST array body: ${r.status} ${r.text}`);
r = await post('{"where": ');
assert(r.status === 400 && r.json?.error === 'Invalid JSON in request body', `POST broken JSON: ${r.status} ${r.text}`);
r = await post('{}');
assert(r.status === 200, `POST {} is a normal request: ${r.status} ${r.text}`);
r = await post('');
assert(r.status === 200, `POST with no body is a normal request: ${r.status} ${r.text}`);
log('POST cases ok');

// DELETE: unknown handle 404, handle/definition mismatch 400, neither given 400.
r = await shapeFetch({ handle: 'no-such-handle' }, { method: 'DELETE' });
assert(r.status === 404, `DELETE unknown handle: ${r.status} ${r.text}`);
r = await shapeFetch({ table: t, where: 'id = 5' }, { method: 'DELETE' });
assert(r.status === 404, `DELETE unknown definition: ${r.status} ${r.text}`);
r = await shapeFetch({ table: t, handle: 'other-handle' }, { method: 'DELETE' });
assert(r.status === 400 && /do not match/.test(r.json?.message ?? ''), `DELETE mismatch: ${r.status} ${r.text}`);
r = await shapeFetch({}, { method: 'DELETE' });
assert(r.status === 400, `DELETE with nothing: ${r.status} ${r.text}`);
if (process.env.DELETE_DISABLED) {
  r = await shapeFetch({ handle }, { method: 'DELETE' });
  assert(r.status === 405 && r.json?.message === 'DELETE not allowed', `DELETE disabled: ${r.status} ${r.text}`);
}
log('DELETE cases ok');

// Unknown handle at a real offset: 409, not 400.
r = await shapeFetch({ table: t, offset: '0_inf', handle: 'nope-123' });
assert(r.status === 409 && r.headers.get('electric-handle') === handle, `unknown handle: ${r.status} ${r.text}`);
// Other routes.
const health = await fetch(`${eddyUrl()}/v1/health`);
assert(health.status === 200 && (await health.json()).status === 'active', `health: ${health.status}`);
const options = await fetch(url, { method: 'OPTIONS', headers: { origin: 'http://x.test', 'access-control-request-headers': 'if-none-match, authorization' } });
assert(options.status === 204 && options.headers.get('access-control-allow-headers') === 'if-none-match', `OPTIONS: ${options.status} ${options.headers.get('access-control-allow-headers')}`);
// Ignored parameters do not hurt.
r = await shapeFetch({ table: t, offset: '-1', customParam: 'x', 'cache-buster': '1', expired_handle: 'old' });
assert(r.status === 200, `unknown params: ${r.status} ${r.text}`);

// Still alive and serving.
const after = await shapeFetch({ table: t, offset: '-1' });
assert(after.status === 200 && after.headers.get('electric-handle') === handle, `after the bad input: ${after.status}`);
await psql(`DROP TABLE ${t}`);
pass('badinput');
