// Per-user scopes from JWT claims, against an eddy with [auth] (HS256, secret in EDDY_JWT_SECRET)
// that syncs wm_scoped with scope_column = "owner_id", scope_claim = "sub" (scoped.toml): each
// user's client gets only its rows; a pushed row belongs to its pusher; a row moved to another
// owner by SQL leaves one client as deleted and enters the other as created; a push of someone
// else's row is a rejected id; no token or a forged one is a 401.
import { overallTimeout, pass, assert, requireEnv } from '../lib.mjs';
import {
  Client, makeDatabase, newId, createTask, localRows, localRow, serverRows, expectClientEqualsServer,
  checkNoClientErrors, hs256Token, waitUntil, pullUrl, pushUrl, psql, log, fail, show, lit,
} from './wmlib.mjs';

overallTimeout(90);
const T = 'wm_scoped';
const secret = requireEnv('EDDY_JWT_SECRET');
const run = newId().slice(0, 6);
const [alice, bob] = [`alice-${run}`, `bob-${run}`];
const ids = { a1: `a1${newId().slice(2)}`, a2: `a2${newId().slice(2)}`, b1: `b1${newId().slice(2)}` };
await psql(`INSERT INTO ${T} (id, title, owner_id) VALUES (${lit(ids.a1)}, 'alice 1', ${lit(alice)}),` +
  ` (${lit(ids.a2)}, 'alice 2', ${lit(alice)}), (${lit(ids.b1)}, 'bob 1', ${lit(bob)})`);

const clientOf = (user) =>
  new Client(makeDatabase({ tables: [T] }), `${user}-device`, { token: hs256Token({ sub: user }, secret), name: user });
const a = clientOf(alice);
const b = clientOf(bob);
const mine = (user) => ({ where: `owner_id = ${lit(user)}` });

for (const [c, user, expected] of [[a, alice, [ids.a1, ids.a2]], [b, bob, [ids.b1]]]) {
  await waitUntil(async () => {
    await c.sync();
    const l = await localRows(c.db, T);
    return expected.every((id) => l.has(id));
  }, `${user}'s rows`);
  await expectClientEqualsServer(c, T, mine(user));
}
log('each user gets only its rows');

const a3 = await createTask(a.db, T, { title: 'alice 3 from the client' });
await a.sync();
const owner = (await psql(`SELECT owner_id FROM ${T} WHERE id = ${lit(a3.id)}`)).trim();
assert(owner === alice, `a pushed row belongs to the pusher's scope: owner_id ${JSON.stringify(owner)}`);
await b.sync();
assert(!(await localRow(b.db, T, a3.id)), "alice's new row must not reach bob");

await psql(`UPDATE ${T} SET owner_id = ${lit(bob)}, updated_at = now() WHERE id = ${lit(ids.a1)}`);
await waitUntil(async () => {
  await a.sync();
  return !(await localRow(a.db, T, ids.a1));
}, 'the row given to bob to leave alice');
assert(a.pulls.some((p) => p.response?.changes?.[T]?.deleted?.includes(ids.a1)), 'it left alice as deleted');
await waitUntil(async () => {
  await b.sync();
  return !!(await localRow(b.db, T, ids.a1));
}, 'the row given to bob to reach bob');
assert(b.pulls.some((p) => p.response?.changes?.[T]?.created?.some((r) => r.id === ids.a1)),
  `it entered bob as created: ${show(b.lastPull().response.changes[T])}`);
log('moves between scopes ok');

// Alice pushes bob's row by hand: rejected, unchanged.
const before = (await serverRows(T)).get(ids.b1);
const res = await fetch(`${pushUrl()}?last_pulled_at=${a.lastPull().response.timestamp}`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${a.token}`, 'X-Client-Id': a.clientId, 'Content-Type': 'application/json' },
  body: JSON.stringify({ [T]: { created: [], updated: [{ ...before, title: 'alice was here' }], deleted: [] } }),
});
const body = await res.json();
assert(res.status === 200 && body.experimentalRejectedIds?.[T]?.includes(ids.b1),
  `a push of another user's row: 200 with the id rejected, got ${res.status} ${show(body)}`);
assert((await serverRows(T)).get(ids.b1)?.title === 'bob 1', "bob's row is unchanged");

for (const [what, headers] of [
  ['no token', {}],
  ['a forged token', { Authorization: `Bearer ${hs256Token({ sub: alice }, 'x'.repeat(40))}` }],
]) {
  const r = await fetch(`${pullUrl()}?last_pulled_at=null&schema_version=1&migration=null`, { headers });
  assert(r.status === 401, `pull with ${what}: 401 expected, got ${r.status} ${await r.text()}`);
}
log('rejection and 401s ok');

for (const [c, user] of [[a, alice], [b, bob]]) {
  await c.sync();
  await expectClientEqualsServer(c, T, mine(user));
  const d = await c.diagnose();
  if (d.issueCount !== 0) fail(`${user}: diagnoseSyncConsistency found ${d.issueCount} issue(s):\n${d.log}`);
}
checkNoClientErrors();
pass('scopes from JWT claims');
