// Bad requests get 400 {"error":{"code":"bad_request","field":...}} naming the parameter, an
// unknown path 404 JSON. See README.md.
//
//   EDDY_URL=http://127.0.0.1:8080 DATABASE_URL=postgres://... node badinput.mjs

import { randomBytes } from 'node:crypto';
import {
  createSongsTable, dropTable, eddyUrl, fail, log, overallTimeout, pass, probe, requireEnv, testTable,
  waitUntilWatchable,
} from './lib.mjs';

overallTimeout(60);
const base = eddyUrl();
requireEnv('DATABASE_URL');
const t = testTable('bad');
const missing = `eddy_no_such_table_${randomBytes(3).toString('hex')}`;
const tq = encodeURIComponent(t.qualified);

// [what, path, status, field (string, array of allowed, or null), text the message must contain]
const cases = [
  ['no table or watcher', '/v1/watch', 400, ['table', 'watcher'], null],
  ['no table or watcher, with op', '/v1/watch?op=insert', 400, ['table', 'watcher'], null],
  ['unknown table', `/v1/watch?table=public.${missing}&op=insert`, 400, 'table', missing],
  ['unknown table, no schema', `/v1/watch?table=${missing}&op=insert`, 400, 'table', missing],
  ['detail=bogus', `/v1/watch?table=${tq}&op=insert&detail=bogus`, 400, 'detail', null],
  ['op=explode', `/v1/watch?table=${tq}&op=explode`, 400, 'op', null],
  ['op=insert,explode', `/v1/watch?table=${tq}&op=insert,explode`, 400, 'op', null],
  ['key with op=insert', `/v1/watch?table=${tq}&op=insert&key=1`, 400, 'key', null],
  ['unknown path', '/nope', 404, null, null],
];

log(`table ${t.qualified}`);
await createSongsTable(t);
// The valid base request must be accepted, so that each 400 below is about the one bad parameter.
await waitUntilWatchable(`${base}/v1/watch?table=${tq}&op=insert`);

const failures = [];
for (const [what, path, status, field, mention] of cases) {
  let r;
  try {
    r = await probe(base + path);
  } catch (e) {
    failures.push(`${what}: ${e.message}`);
    continue;
  }
  const problems = [];
  if (r.status !== status) problems.push(`status ${r.status}, expected ${status}`);
  if (!r.contentType.startsWith('application/json')) problems.push(`content-type ${JSON.stringify(r.contentType)}, expected application/json`);
  const err = r.body?.error;
  if (!err || typeof err !== 'object') {
    problems.push('body has no "error" object');
  } else {
    if (typeof err.code !== 'string' || !err.code) problems.push('error.code missing');
    if (status === 400 && err.code !== 'bad_request') problems.push(`error.code ${JSON.stringify(err.code)}, expected "bad_request"`);
    if (typeof err.message !== 'string' || !err.message) problems.push('error.message missing');
    const allowed = field === null ? null : [].concat(field);
    if (allowed && !allowed.includes(err.field)) problems.push(`error.field ${JSON.stringify(err.field)}, expected ${allowed.map((f) => JSON.stringify(f)).join(' or ')}`);
    if (mention && !String(err.message).includes(mention)) problems.push(`error.message does not name ${mention}`);
  }
  if (problems.length) failures.push(`${what} (GET ${path}): ${problems.join('; ')}; body ${JSON.stringify(r.body)}`);
  else log(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
}

await dropTable(t);
if (failures.length) fail(`${failures.length} of ${cases.length} cases:\n  ${failures.join('\n  ')}`);
pass(`${cases.length} bad requests refused with the right status and field`);
