// Against an eddy with auth.rs256_public_key_file (the matching private key in EDDY_PRIVATE_KEY,
// a PEM file): an RS256 token is accepted, one signed by another key or sent as HS256 is not.
import { createSign, generateKeyPairSync, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { eddyUrl, fail, log, overallTimeout, pass, psql, requireEnv, sleep } from './lib.mjs';

overallTimeout(60);
const base = eddyUrl();
const privateKey = readFileSync(requireEnv('EDDY_PRIVATE_KEY'), 'utf8');
const b64 = (s) => Buffer.from(s).toString('base64url');

function rs256(claims, key = privateKey) {
  const head = b64(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }));
  const sig = createSign('RSA-SHA256').update(`${head}.${body}`).sign(key).toString('base64url');
  return `${head}.${body}.${sig}`;
}

function status(path, token) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
      resolve(res.statusCode);
      res.destroy();
    });
    req.on('error', reject);
  });
}

await psql(`CREATE TABLE IF NOT EXISTS rs_songs (id int PRIMARY KEY, title text);
            INSERT INTO rs_songs VALUES (0, 'warm') ON CONFLICT DO NOTHING`);
await sleep(500);
const path = '/v1/watch?table=rs_songs&op=insert';
const good = await status(path, rs256({ sub: 'alice', role: 'user' }));
if (good !== 200) fail(`a valid RS256 token got ${good}`);
const { privateKey: other } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const wrongKey = await status(path, rs256({ sub: 'alice', role: 'user' }, other));
if (wrongKey !== 401) fail(`a token signed by another key got ${wrongKey}`);
// Algorithm confusion: an HS256 token "signed" with the public key must not pass.
const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const body = b64(JSON.stringify({ sub: 'alice', role: 'user', exp: Math.floor(Date.now() / 1000) + 600 }));
const pub = readFileSync(requireEnv('EDDY_PUBLIC_KEY'), 'utf8');
const confused = `${head}.${body}.${createHmac('sha256', pub).update(`${head}.${body}`).digest('base64url')}`;
const hs = await status(path, confused);
if (hs !== 401) fail(`an HS256 token signed with the public key got ${hs}`);
log('RS256 accepted; other key and HS256 confusion refused');
pass('rs256');
