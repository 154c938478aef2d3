// WebSocket: two subscriptions on one socket each get exactly their changes; unsubscribe stops
// one; ping/pong; bad frames get {"type":"error"} naming the field and the socket stays open.
// See README.md.
//
//   EDDY_URL=http://127.0.0.1:8080 DATABASE_URL=postgres://... node ws.mjs

import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  Inbox, assert, authHeaders, comparePositions, createSongsTable, dropTable, eddyUrl, fail, isWarmUp,
  log, overallTimeout, parsePosition, pass, psql, requireEnv, sameValue, sleep, testTable,
} from './lib.mjs';

overallTimeout(60);
const base = eddyUrl();
requireEnv('DATABASE_URL');
const t = testTable('ws');
const TIMEOUT_MS = 15_000;
const wsUrl = `${base.replace(/^http/, 'ws')}/v1/ws`;

// Messages: change/commit go to the subscription's inbox, everything else to `control`.
const control = new Inbox();
const subs = { a: new Inbox(), b: new Inbox() };
let closing = false;

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: authHeaders(), handshakeTimeout: 10_000 });
    ws.on('open', () => resolve(ws));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(new Error(`upgrade refused: ${res.statusCode} ${body.slice(0, 300)}`)));
    });
    ws.on('error', (e) => reject(new Error(`WebSocket ${wsUrl}: ${e.message}`)));
    ws.on('message', (data, isBinary) => {
      assert(!isBinary, 'the server sent a binary message; the API speaks JSON text frames');
      let m;
      try {
        m = JSON.parse(String(data));
      } catch {
        fail(`server message is not JSON: ${String(data).slice(0, 300)}`);
      }
      if ((m.type === 'change' || m.type === 'commit') && subs[m.id]) subs[m.id].push(m);
      else if (m.type === 'change' || m.type === 'commit') fail(`${m.type} for unknown subscription id ${JSON.stringify(m.id)}`);
      else control.push(m);
    });
    ws.on('close', (code, reason) => {
      if (!closing) fail(`the server closed the socket: ${code} ${String(reason)}`);
    });
  });
}

async function next(inbox, what) {
  try {
    return await inbox.next(TIMEOUT_MS, what);
  } catch (e) {
    fail(e.message);
  }
}

async function expectControl(type, id, what) {
  const m = await next(control, what);
  assert(m.type === type && (id === undefined || m.id === id),
    `${what}: expected {"type":"${type}"${id !== undefined ? `,"id":"${id}"` : ''}}, got ${JSON.stringify(m)}`);
  return m;
}

// Subscribes, retrying while the server does not know the new table yet (error field "table").
async function subscribe(ws, msg) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    ws.send(JSON.stringify(msg));
    const m = await next(control, `the answer to subscribe ${msg.id}`);
    if (m.type === 'subscribed') {
      assert(m.id === msg.id, `subscribed ack for ${JSON.stringify(m.id)}, expected ${msg.id}`);
      assert(parsePosition(m.position), `subscribed ack without a position: ${JSON.stringify(m)}`);
      return m.position;
    }
    const retriable = m.type === 'error' && m.error?.field === 'table';
    if (!retriable || Date.now() > deadline) fail(`subscribe ${JSON.stringify(msg)} answered ${JSON.stringify(m)}`);
    await sleep(500);
  }
}

// One transaction of a subscription: its change messages, then its commit (warm-up skipped).
const lastPos = {};
async function readTransaction(id, what) {
  for (;;) {
    const changes = [];
    for (;;) {
      const m = await next(subs[id], `${what} (subscription ${id})`);
      if (m.type === 'change') {
        const c = m.change;
        assert(c && parsePosition(c.position), `subscription ${id}: change message without a change/position: ${JSON.stringify(m)}`);
        if (lastPos[id]) assert(comparePositions(c.position, lastPos[id]) > 0, `subscription ${id}: position ${c.position} does not follow ${lastPos[id]}`);
        lastPos[id] = c.position;
        changes.push(c);
        continue;
      }
      const c = m.commit;
      assert(c && changes.length > 0, `subscription ${id}: commit without changes or body: ${JSON.stringify(m)}`);
      assert(c.lsn === changes[0].lsn && c.xid === changes[0].xid, `subscription ${id}: commit ${JSON.stringify(c)} does not match its changes' lsn/xid`);
      assert(c.changes === changes.length, `subscription ${id}: commit says changes=${c.changes}, got ${changes.length}`);
      if (changes.every(isWarmUp)) break;
      return changes;
    }
  }
}

function checkChange(c, op, id, where, newValues) {
  assert(c.op === op && c.schema === t.schema && c.table === t.name && sameValue(c.key?.id, id),
    `${where}: expected ${op} of ${t.qualified} id ${id}, got ${JSON.stringify(c)}`);
  for (const [col, v] of Object.entries(newValues ?? {})) {
    assert(sameValue(c.new?.[col], v), `${where}: new.${col} = ${JSON.stringify(c.new?.[col])}, expected ${JSON.stringify(v)}`);
  }
}

const ins = (ids) => `INSERT INTO ${t.qualified} (id, title, artist, owner_id) VALUES ` +
  ids.map((id) => `(${id}, 'Song ${id}', 'Artist', 'owner-${id}')`).join(', ');

log(`table ${t.qualified}`);
await createSongsTable(t);
const ws = await connect();

// a: inserts, key only; b: key 1, update/delete, full rows.
const posA = await subscribe(ws, { type: 'subscribe', id: 'a', table: t.qualified, op: 'insert' });
const posB = await subscribe(ws, { type: 'subscribe', id: 'b', table: t.qualified, op: 'update,delete', key: ['1'], detail: 'full' });
log(`subscribed a at ${posA}, b at ${posB}`);

await psql(ins([1, 2]));
await psql(`UPDATE ${t.qualified} SET title = 'One' WHERE id = 1`);
await psql(`UPDATE ${t.qualified} SET title = 'Two' WHERE id = 2`); // neither a nor b
await psql(`DELETE FROM ${t.qualified} WHERE id = 1`);

const a1 = await readTransaction('a', 'the 2 inserts');
assert(a1.length === 2, `subscription a: ${a1.length} changes in the insert transaction, expected 2`);
checkChange(a1[0], 'insert', 1, 'a change 1');
checkChange(a1[1], 'insert', 2, 'a change 2');
assert(a1[0].new === undefined, `subscription a has detail=id, yet the change carries "new": ${JSON.stringify(a1[0])}`);
const b1 = await readTransaction('b', 'the update of key 1');
assert(b1.length === 1, `subscription b: ${b1.length} changes, expected the update of id 1: ${JSON.stringify(b1)}`);
checkChange(b1[0], 'update', 1, 'b change 1', { id: 1, title: 'One', artist: 'Artist', owner_id: 'owner-1' });
const b2 = await readTransaction('b', 'the delete of key 1');
assert(b2.length === 1, `subscription b: ${b2.length} changes, expected the delete of id 1: ${JSON.stringify(b2)}`);
checkChange(b2[0], 'delete', 1, 'b change 2');
await sleep(500);
for (const id of ['a', 'b']) {
  const extra = await subs[id].drain(0);
  assert(extra.length === 0, `subscription ${id} got more than its changes: ${JSON.stringify(extra).slice(0, 500)}`);
}
log('a got the 2 inserts, b the update and delete of key 1, nothing else');

// Unsubscribe a: the insert after it must not reach a; b's update shows the server got that far.
ws.send(JSON.stringify({ type: 'unsubscribe', id: 'a' }));
await expectControl('unsubscribed', 'a', 'the unsubscribe ack');
await psql(ins([1, 3]));
await psql(`UPDATE ${t.qualified} SET title = 'One again' WHERE id = 1`);
const b3 = await readTransaction('b', 'the update after unsubscribing a');
checkChange(b3[0], 'update', 1, 'b change 3', { title: 'One again' });
await sleep(1000);
const leaked = await subs.a.drain(0);
assert(leaked.length === 0, `subscription a got messages after "unsubscribed": ${JSON.stringify(leaked).slice(0, 500)}`);
log('nothing for a after unsubscribed');

// Ping / pong.
ws.send(JSON.stringify({ type: 'ping', ref: '42' }));
const pong = await expectControl('pong', undefined, 'the pong');
assert(pong.ref === '42', `pong ref ${JSON.stringify(pong.ref)}, expected "42"`);

// Bad frames: an error message each, and the socket stays open.
ws.send('{"type":"subscribe", not json');
const e1 = await expectControl('error', undefined, 'the error for invalid JSON');
assert(e1.error && typeof e1.error.code === 'string' && typeof e1.error.message === 'string',
  `the error for invalid JSON lacks error.code/message: ${JSON.stringify(e1)}`);
const missing = `public.eddy_no_such_table_${randomBytes(3).toString('hex')}`;
ws.send(JSON.stringify({ type: 'subscribe', id: 'c', table: missing, op: 'insert' }));
const e2 = await expectControl('error', 'c', 'the error for an unknown table');
assert(e2.error?.field === 'table', `the unknown-table error names field ${JSON.stringify(e2.error?.field)}, expected "table": ${JSON.stringify(e2)}`);
assert(String(e2.error?.message).includes(missing.split('.')[1]), `the unknown-table error does not name the table: ${JSON.stringify(e2)}`);
ws.send(JSON.stringify({ type: 'ping', ref: 'still-open' }));
const pong2 = await expectControl('pong', undefined, 'the pong after the bad frames');
assert(pong2.ref === 'still-open' && ws.readyState === WebSocket.OPEN, 'the socket did not stay open after the bad frames');
log(`invalid JSON -> ${JSON.stringify(e1.error)}; unknown table -> field "table"; socket open`);

closing = true;
ws.close(1000, 'done');
await dropTable(t);
pass('two subscriptions on one socket, unsubscribe, ping/pong, bad frames');
