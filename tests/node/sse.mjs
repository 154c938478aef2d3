// SSE: /v1/watch delivers a table's changes in order with a `commit` after each transaction,
// every change/commit carries its position as the event id, and a reconnect with Last-Event-ID
// (or ?from=) resumes with no gap and no duplicate. See README.md.
//
//   EDDY_URL=http://127.0.0.1:8080 DATABASE_URL=postgres://... node sse.mjs

import EventSource from 'eventsource';
import {
  Inbox, assert, authHeaders, comparePositions, createSongsTable, dropTable, eddyUrl, fail,
  isWarmUp, log, overallTimeout, parseJson, parsePosition, pass, psql, requireEnv, sameValue,
  testTable, waitUntilWatchable,
} from './lib.mjs';

overallTimeout(60);
const base = eddyUrl();
requireEnv('DATABASE_URL');
const t = testTable('sse');
const EVENT_TIMEOUT_MS = 15_000;

// Opens an EventSource; every event goes to the returned inbox as
// { kind: 'ready'|'change'|'commit'|'server-error'|'transport-error', data, id }.
function open(url, extraHeaders = {}) {
  const inbox = new Inbox();
  const es = new EventSource(url, { headers: { ...authHeaders(), ...extraHeaders } });
  for (const kind of ['ready', 'change', 'commit']) {
    es.addEventListener(kind, (e) => inbox.push({ kind, data: parseJson(e.data, `${kind} event data`), id: e.lastEventId }));
  }
  es.addEventListener('error', (e) => {
    if (e.data !== undefined) {
      // `event: error` from the server (a MessageEvent with data).
      inbox.push({ kind: 'server-error', data: e.data, id: e.lastEventId });
    } else {
      // The connection failed or ended; the eventsource package reconnects by itself (with
      // Last-Event-ID) unless the status was a refusal.
      inbox.push({ kind: 'transport-error', data: `status ${e.status ?? '-'} ${e.message ?? ''}`.trim() });
    }
  });
  return { es, inbox };
}

async function nextEvent(inbox, what) {
  for (;;) {
    let ev;
    try {
      ev = await inbox.next(EVENT_TIMEOUT_MS, what);
    } catch (e) {
      fail(e.message);
    }
    if (ev.kind === 'server-error') fail(`server sent event: error while waiting for ${what}: ${ev.data}`);
    if (ev.kind === 'transport-error') {
      log(`note: connection error (${ev.data}); the client reconnects with Last-Event-ID`);
      continue;
    }
    return ev;
  }
}

async function expectReady(inbox) {
  const ev = await nextEvent(inbox, 'the ready event');
  assert(ev.kind === 'ready', `the first event must be "ready", got "${ev.kind}": ${JSON.stringify(ev.data)}`);
  assert(parsePosition(ev.data.position), `ready.position is not a position: ${JSON.stringify(ev.data)}`);
  return ev.data.position;
}

// Tracks the stream's positions: each change/commit id must exceed the previous one.
class Stream {
  constructor(name) {
    this.name = name;
    this.lastId = null;
  }
  // Reads one transaction: its changes (warm-up row id 0 transactions are skipped) and its commit.
  async readTransaction(what, allowReady = false) {
    for (;;) {
      const changes = [];
      for (;;) {
        const ev = await nextEvent(this.inbox, `${what} (${this.name})`);
        if (ev.kind === 'ready') {
          assert(allowReady && changes.length === 0 && this.lastId === null,
            `${this.name}: unexpected ready event in the middle of the stream: ${JSON.stringify(ev.data)}`);
          continue;
        }
        this.checkId(ev);
        if (ev.kind === 'change') {
          assert(ev.id === ev.data.position,
            `${this.name}: change event id ${JSON.stringify(ev.id)} differs from its position ${JSON.stringify(ev.data.position)}`);
          changes.push(ev.data);
          continue;
        }
        // commit
        assert(changes.length > 0, `${this.name}: commit event with no change before it: ${JSON.stringify(ev.data)}`);
        const c = ev.data;
        const last = changes[changes.length - 1];
        assert(c.lsn === last.lsn, `${this.name}: commit lsn ${c.lsn} differs from its changes' lsn ${last.lsn}`);
        assert(c.xid === last.xid, `${this.name}: commit xid ${c.xid} differs from its changes' xid ${last.xid}`);
        assert(c.changes === changes.length,
          `${this.name}: commit says changes=${c.changes}, the stream carried ${changes.length}`);
        for (const ch of changes) {
          assert(ch.lsn === last.lsn && ch.xid === last.xid, `${this.name}: changes of one transaction differ in lsn/xid`);
        }
        if (changes.every(isWarmUp)) break; // the warm-up insert; read the next transaction
        return { changes, commit: c, commitId: ev.id };
      }
    }
  }
  checkId(ev) {
    assert(ev.id, `${this.name}: ${ev.kind} event without an id: ${JSON.stringify(ev.data)}`);
    assert(parsePosition(ev.id), `${this.name}: ${ev.kind} event id is not a position: ${JSON.stringify(ev.id)}`);
    if (this.lastId !== null) {
      assert(comparePositions(ev.id, this.lastId) > 0,
        `${this.name}: ${ev.kind} event id ${ev.id} does not follow the previous id ${this.lastId}` +
          (ev.id === this.lastId ? ' (the event has no id: line of its own?)' : ''));
    }
    this.lastId = ev.id;
  }
  // After the expected events: nothing more may arrive within `ms`.
  async expectQuiet(ms) {
    const extra = (await this.inbox.drain(ms)).filter((e) => e.kind !== 'transport-error');
    assert(extra.length === 0, `${this.name}: unexpected extra events (duplicates?): ${JSON.stringify(extra).slice(0, 500)}`);
  }
}

function row(id) {
  return { id, title: `Song ${id}`, artist: `Artist ${id % 2}`, owner_id: `owner-${id}` };
}
function insertSql(ids) {
  const values = ids.map((id) => {
    const r = row(id);
    return `(${r.id}, '${r.title}', '${r.artist}', '${r.owner_id}')`;
  });
  return `INSERT INTO ${t.qualified} (id, title, artist, owner_id) VALUES ${values.join(', ')}`;
}

function checkChange(ch, op, id, expectNew, where) {
  assert(ch.op === op, `${where}: op ${JSON.stringify(ch.op)}, expected ${op}: ${JSON.stringify(ch)}`);
  assert(ch.schema === t.schema && ch.table === t.name,
    `${where}: table ${ch.schema}.${ch.table}, expected ${t.qualified}`);
  assert(ch.key && sameValue(ch.key.id, id), `${where}: key ${JSON.stringify(ch.key)}, expected {"id":${id}}`);
  assert(typeof ch.commit_time === 'string' && ch.commit_time.length > 0, `${where}: no commit_time: ${JSON.stringify(ch)}`);
  if (expectNew) {
    assert(ch.new && typeof ch.new === 'object', `${where}: detail=full ${op} has no "new": ${JSON.stringify(ch)}`);
    for (const [col, value] of Object.entries(expectNew)) {
      assert(sameValue(ch.new[col], value), `${where}: new.${col} = ${JSON.stringify(ch.new[col])}, expected ${JSON.stringify(value)}`);
    }
  } else {
    assert(ch.new === undefined || ch.new === null, `${where}: a delete carries "new": ${JSON.stringify(ch)}`);
  }
}

function checkInsertTx(tx, ids, where) {
  assert(tx.changes.length === ids.length,
    `${where}: ${tx.changes.length} changes, expected ${ids.length} inserts: ${JSON.stringify(tx.changes)}`);
  ids.forEach((id, i) => checkChange(tx.changes[i], 'insert', id, row(id), `${where} change ${i + 1}`));
}

const watchUrl = `${base}/v1/watch?table=${encodeURIComponent(t.qualified)}&op=insert,update,delete&detail=full`;
const opened = [];

try {
  log(`table ${t.qualified}`);
  await createSongsTable(t);
  await waitUntilWatchable(watchUrl);

  // 1. Live: 3 inserts in one transaction, an update, a delete.
  const s1 = new Stream('first connection');
  ({ es: s1.es, inbox: s1.inbox } = open(watchUrl));
  opened.push(s1.es);
  const ready = await expectReady(s1.inbox);
  log(`ready at ${ready}`);

  await psql(insertSql([1, 2, 3]));
  await psql(`UPDATE ${t.qualified} SET title = 'Song 2 (remastered)' WHERE id = 2`);
  await psql(`DELETE FROM ${t.qualified} WHERE id = 3`);

  const tx1 = await s1.readTransaction('the 3 inserts');
  checkInsertTx(tx1, [1, 2, 3], 'transaction 1');
  assert(comparePositions(tx1.changes[0].position, ready) > 0, `the first change ${tx1.changes[0].position} is not after ready ${ready}`);
  const tx2 = await s1.readTransaction('the update');
  assert(tx2.changes.length === 1, `transaction 2: ${tx2.changes.length} changes, expected 1 update`);
  checkChange(tx2.changes[0], 'update', 2, { ...row(2), title: 'Song 2 (remastered)' }, 'transaction 2');
  const tx3 = await s1.readTransaction('the delete');
  assert(tx3.changes.length === 1, `transaction 3: ${tx3.changes.length} changes, expected 1 delete`);
  checkChange(tx3.changes[0], 'delete', 3, null, 'transaction 3');
  await s1.expectQuiet(500);
  log('5 changes and 3 commits in order');

  // 2. Reconnect with Last-Event-ID: the 2 inserts made while disconnected arrive, nothing else.
  s1.es.close();
  const lastId = s1.lastId;
  assert(lastId === tx3.commitId, `the last id seen (${lastId}) is not the last commit's (${tx3.commitId})`);
  await psql(insertSql([4]));
  await psql(insertSql([5]));

  const s2 = new Stream('reconnect with Last-Event-ID');
  ({ es: s2.es, inbox: s2.inbox } = open(watchUrl, { 'Last-Event-ID': lastId }));
  opened.push(s2.es);
  const tx4 = await s2.readTransaction('the first insert made while disconnected', true);
  assert(comparePositions(tx4.changes[0].position, lastId) > 0, `resumed change ${tx4.changes[0].position} is not after ${lastId}`);
  checkInsertTx(tx4, [4], 'resumed transaction 1');
  const tx5 = await s2.readTransaction('the second insert made while disconnected');
  checkInsertTx(tx5, [5], 'resumed transaction 2');
  await s2.expectQuiet(1000);
  s2.es.close();
  log(`Last-Event-ID ${lastId}: exactly the 2 missed inserts`);

  // 3. ?from=<the update's commit id>: the delete and both inserts again, same positions.
  const fromUrl = `${watchUrl}&from=${encodeURIComponent(tx2.commitId)}`;
  const s3 = new Stream('?from=');
  ({ es: s3.es, inbox: s3.inbox } = open(fromUrl));
  opened.push(s3.es);
  const again = [];
  for (const what of ['the delete', 'insert 4', 'insert 5']) again.push(await s3.readTransaction(`${what} (replayed)`, true));
  checkChange(again[0].changes[0], 'delete', 3, null, 'from= transaction 1');
  checkInsertTx(again[1], [4], 'from= transaction 2');
  checkInsertTx(again[2], [5], 'from= transaction 3');
  const expected = [tx3, tx4, tx5];
  again.forEach((tx, i) => {
    assert(tx.changes[0].position === expected[i].changes[0].position && tx.commitId === expected[i].commitId,
      `from= replay position differs from the live one: ${tx.changes[0].position}/${tx.commitId} vs ` +
        `${expected[i].changes[0].position}/${expected[i].commitId}`);
  });
  await s3.expectQuiet(1000);
  s3.es.close();
  log(`from=${tx2.commitId}: the delete and the 2 inserts, same positions`);
} finally {
  for (const es of opened) es.close();
}
await dropTable(t);
pass('live order, commit events, Last-Event-ID resume and from= resume');
