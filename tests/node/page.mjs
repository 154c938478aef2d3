// The page at GET /: in headless Chromium it goes live, shows an insert in its feed within 20 s
// and shows capture health. See README.md.
//
//   EDDY_URL=http://127.0.0.1:8080 DATABASE_URL=postgres://... [SCREENSHOT=page.png] node page.mjs

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import {
  createSongsTable, dropTable, eddyUrl, fail, log, overallTimeout, pass, psql, requireEnv, testTable,
} from './lib.mjs';

overallTimeout(60);
const base = eddyUrl();
requireEnv('DATABASE_URL');
const t = testTable('page');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);

const pageUrl = `${base}/${process.env.EDDY_TOKEN ? `?token=${encodeURIComponent(process.env.EDDY_TOKEN)}` : ''}`;
let browser;
const pageErrors = [];

async function step(what, fn) {
  try {
    return await fn();
  } catch (e) {
    if (page) {
      const status = await page.locator('#status').textContent().catch(() => '?');
      const health = await page.locator('#health').innerText().catch(() => '?');
      const feed = await page.locator('#feed').innerText().catch(() => '?');
      log(`page state: #status=${JSON.stringify(status)}\n#health:\n${health}\n#feed:\n${feed.slice(0, 1500)}`);
      if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true }).catch(() => {});
    }
    if (browser) await browser.close().catch(() => {});
    fail(`${what}: ${e.message.split('\n')[0]}${pageErrors.length ? `\npage errors:\n  ${pageErrors.join('\n  ')}` : ''}`);
  }
}

let page = null;
log(`table ${t.qualified}; page ${base}/`);
await createSongsTable(t);

browser = await step('launching Chromium', () => chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 30_000,
}));
page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
page.on('requestfailed', (r) => {
  // The EventSource request is aborted when the page closes; anything else is worth reporting.
  if (!r.url().includes('/v1/watch')) pageErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
});

const res = await step(`opening ${pageUrl}`, () => page.goto(pageUrl, { waitUntil: 'domcontentloaded', timeout: 15_000 }));
await step('GET / status', async () => {
  if (res.status() !== 200) throw new Error(`status ${res.status()}`);
  const ct = res.headers()['content-type'] || '';
  if (!ct.startsWith('text/html')) throw new Error(`content-type ${ct}, expected text/html`);
});
for (const id of ['health', 'tables', 'feed', 'status']) {
  await step(`element #${id}`, async () => {
    if ((await page.locator(`#${id}`).count()) !== 1) throw new Error(`the page has no single #${id}`);
  });
}
await step('#status "live"', () => page.waitForFunction(
  () => document.querySelector('#status')?.textContent.trim() === 'live', null, { timeout: 15_000 }));
log('#status is live');

await psql(`INSERT INTO ${t.qualified} (id, title, artist, owner_id) VALUES (1, 'Page test', 'Chromium', 'page')`);
const selector = `#feed .change[data-table="${t.qualified}"][data-op="insert"]`;
await step(`waiting for ${selector}`, () => page.waitForSelector(selector, { timeout: 20_000 }));
const rowText = await page.locator(selector).first().innerText();
log(`feed row: ${rowText.replace(/\s+/g, ' ')}`);

await step('#health shows "streaming"', () => page.waitForFunction(
  () => document.querySelector('#health')?.textContent.includes('streaming'), null, { timeout: 10_000 }));
await step('#tables lists the table', () => page.waitForFunction(
  (name) => document.querySelector('#tables')?.textContent.includes(name), t.qualified, { timeout: 5_000 }));

if (process.env.SCREENSHOT) {
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  log(`screenshot: ${process.env.SCREENSHOT}`);
}
await browser.close();
await dropTable(t);
if (pageErrors.length) fail(`the page reported errors:\n  ${pageErrors.join('\n  ')}`);
pass('the page went live, showed the insert and capture health');
