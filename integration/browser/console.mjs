#!/usr/bin/env node
// Drives clawd's operator console in headless Chromium against a running
// `clawd up` (integration/console_test.go starts it and checks the results
// against the API).
//
//   node console.mjs <admin-base-url> <admin-token> <screenshot-dir> <metered-namespace> <tokens-used>
//
// Steps: a wrong token is refused; sign in; the overview; create a namespace
// (a bad memory size first: the API's error next to its field) and see it
// Running; the metered namespace's chart shows <tokens-used> in all; create
// an API key and see it once; sleep and wake; the usage page shows
// <tokens-used> and offers the CSV; a daemon that stops answering shows a
// banner; the namespaces page at a phone's width. Prints one JSON object
// ({"created":…, "key":…}) on success and exits 0; exits 1 with a
// one-line reason otherwise. Screenshots: <screenshot-dir>/NN-page.png.
//
// Chromium is Debian's (/usr/bin/chromium, or CHROMIUM=path).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [base, token, shots, metered, tokensArg] = process.argv.slice(2);
if (!tokensArg) {
  console.error('usage: node console.mjs <admin-base-url> <admin-token> <screenshot-dir> <metered-namespace> <tokens-used>');
  process.exit(2);
}
const tokensUsed = Number(tokensArg);
const created = 'webui';
const OVERALL_MS = 150_000;
let stage = 'starting';
let browser, page, shotN = 0;

async function finish(code, msg) {
  if (code !== 0 && page) await shot('failure').catch(() => {});
  if (browser) await browser.close().catch(() => {});
  (code === 0 ? console.log : console.error)(msg);
  process.exit(code);
}
setTimeout(() => finish(1, `FAIL: timed out after ${OVERALL_MS / 1000}s while ${stage}`), OVERALL_MS).unref();

async function shot(name) {
  shotN++;
  await page.screenshot({ path: path.join(shots, `${String(shotN).padStart(2, '0')}-${name}.png`), fullPage: true });
}
function must(cond, msg) { if (!cond) throw new Error(msg); }
const phaseOf = (name) => page.locator(`tr[data-namespace="${name}"] .phase`);

async function main() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  must(fs.existsSync(executablePath), `no Chromium at ${executablePath} (scripts/ensure-tools.sh installs Debian's chromium)`);
  fs.mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Nothing may leave the admin listener's origin (no CDN).
  const offOrigin = [];
  ctx.on('request', (r) => { if (!r.url().startsWith(base)) offOrigin.push(r.url()); });
  page = await ctx.newPage();
  page.setDefaultTimeout(30_000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // A Content-Security-Policy violation is logged, not thrown; refused
  // requests (the wrong token, the aborted ones) are expected.
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text()); });

  stage = 'refusing a wrong token';
  await page.goto(`${base}/console/`);
  await page.getByLabel('Admin token').fill('not-the-admin-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#token-error', { hasText: 'wrong admin token' }).waitFor();
  must(await page.locator('header#top').isHidden(), 'the console opened with a wrong token');
  await shot('signin-refused');

  stage = 'signing in';
  await page.getByLabel('Admin token').fill(token);
  await page.getByLabel('Admin token').press('Enter');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === 'clawd_console');
  must(session && session.httpOnly && session.sameSite === 'Strict', `session cookie ${JSON.stringify(session)}`);
  must(!cookies.some((c) => c.value.includes(token)), 'a cookie holds the admin token');
  await page.locator('[data-testid="ns-count"]').waitFor();
  await page.getByRole('heading', { name: 'Nodes' }).waitFor();
  await shot('overview');

  stage = 'creating a namespace with a bad memory size';
  await page.getByRole('link', { name: 'Namespaces' }).click();
  await page.getByLabel('Name', { exact: true }).fill(created);
  await page.getByLabel('Memory').fill('lots');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const memErr = page.locator('#ns-memory-error');
  await memErr.filter({ hasText: /quota-memory/ }).waitFor();
  const memErrText = (await memErr.textContent()).trim();
  await shot('namespaces-bad-input');

  stage = `creating namespace ${created} and waiting for Running`;
  await page.getByLabel('Memory').fill('');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.locator('#ns-status', { hasText: `namespace ${created} created` }).waitFor();
  await phaseOf(created).filter({ hasText: /^Running$/ }).waitFor({ timeout: 60_000 });
  stage = `today's tokens of ${metered} in the table`;
  const tokCell = page.locator(`tr[data-namespace="${metered}"] td[data-col="tokens"]`);
  await tokCell.filter({ hasText: new RegExp(`^${tokensUsed.toLocaleString('en-US')}$`) }).waitFor();
  stage = 'filtering and sorting the table';
  await page.getByLabel('Filter').fill(created);
  must(await page.locator('tbody tr[data-namespace]').count() === 1, 'the filter kept other rows');
  await page.getByLabel('Filter').fill('');
  await page.getByRole('button', { name: 'Name', exact: true }).click(); // second click on the sorted column: descending
  must(await page.locator('th[aria-sort="descending"]').count() === 1, 'sorting by name did not turn descending');
  const names = await page.locator('tbody tr[data-namespace]').evaluateAll((rows) => rows.map((r) => r.dataset.namespace));
  must(JSON.stringify(names) === JSON.stringify([...names].sort().reverse()), `rows not in descending order: ${names}`);
  await shot('namespaces');

  stage = `the chart of ${metered}`;
  await page.goto(`${base}/console/#/namespaces/${metered}`);
  await page.locator('#chart .uplot canvas').first().waitFor();
  const cells = await page.locator('#chart td[data-model-day]').allTextContents();
  const charted = cells.reduce((s, c) => s + Number(c.replace(/,/g, '')), 0);
  must(charted === tokensUsed, `the chart's numbers add up to ${charted} tokens; the API's report says ${tokensUsed}`);
  await page.locator('#quotas').waitFor();
  await page.locator('#config dd', { hasText: 'gpt-4o' }).waitFor();
  await page.locator('#invoices p').filter({ hasText: /.+/ }).waitFor();
  await shot('namespace-metered');

  stage = 'creating an API key';
  await page.goto(`${base}/console/#/namespaces/${created}`);
  await page.getByLabel('Key name').fill('console-test');
  await page.getByLabel('Rate limit').fill('often');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('#key-rate-error').filter({ hasText: /.+/ }).waitFor();
  await page.getByLabel('Rate limit').fill('100/hour');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.locator('[data-testid="new-key"]').textContent()).trim();
  must(key.length > 20, `new key ${JSON.stringify(key)}`);
  await page.locator('#keys td', { hasText: 'console-test' }).waitFor();
  await shot('namespace-new-key');
  await page.reload();
  await page.locator('#keys td', { hasText: 'console-test' }).waitFor();
  must(!(await page.content()).includes(key), 'the key is shown again after a reload');

  stage = `sleeping ${created}`;
  await page.getByRole('button', { name: 'Sleep', exact: true }).click();
  await page.locator('[data-testid="phase"] .phase', { hasText: /^Stopped$/ }).waitFor({ timeout: 60_000 });
  await shot('namespace-asleep');
  stage = `waking ${created}`;
  await page.getByRole('button', { name: 'Wake', exact: true }).click();
  await page.locator('[data-testid="phase"] .phase', { hasText: /^Running$/ }).waitFor({ timeout: 60_000 });
  await shot('namespace-awake');

  stage = 'the usage page';
  await page.getByRole('link', { name: 'Usage' }).click();
  const row = page.locator(`#usage tr[data-namespace="${metered}"] td[data-meter="tokens_used"]`);
  await row.waitFor();
  const reported = Number((await row.textContent()).replace(/,/g, ''));
  must(reported === tokensUsed, `usage page shows ${reported} tokens for ${metered}; the API says ${tokensUsed}`);
  const csvHref = await page.locator('#csv').getAttribute('href');
  const csv = await page.evaluate(async (u) => (await fetch(u, { credentials: 'same-origin' })).text(), csvHref);
  must(csv.startsWith('namespace,day,meter,model,value'), `CSV download: ${csv.slice(0, 80)}`);
  const csvTokens = csv.split('\n').filter((l) => l.startsWith(`${metered},`) && /,(input|output)_tokens,/.test(l))
    .reduce((s, l) => s + Number(l.split(',')[4]), 0);
  must(csvTokens === tokensUsed, `the CSV holds ${csvTokens} tokens for ${metered}; the report ${tokensUsed}`);
  await shot('usage');

  stage = 'a delete cancelled from the keyboard';
  await page.getByRole('link', { name: 'Namespaces' }).click();
  await page.getByRole('button', { name: `Delete ${created}` }).click();
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Enter'); // the focused button is Cancel
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  must(await page.locator(`tr[data-namespace="${created}"]`).count() === 1, 'Enter in the delete dialog deleted the namespace');

  stage = 'a delete confirmed';
  await page.getByLabel('Name', { exact: true }).fill('gone');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.locator('tr[data-namespace="gone"]').waitFor();
  await page.getByRole('button', { name: 'Delete gone' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete gone' }).click();
  await page.locator('tr[data-namespace="gone"]').waitFor({ state: 'detached', timeout: 60_000 });
  await shot('namespaces-after-delete');

  stage = 'a daemon that stops answering';
  await page.route('**/api/v1/**', (r) => r.abort('connectionrefused'));
  await page.locator('#banner', { hasText: /not answering/ }).waitFor();
  must(await page.locator('tr[data-namespace]').count() > 0, 'the table went blank under the banner');
  await shot('daemon-gone');
  await page.unroute('**/api/v1/**');
  await page.locator('#banner').waitFor({ state: 'hidden' });

  stage = 'a phone-sized window';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('heading', { name: 'Namespaces' }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  must(overflow <= 0, `the page is ${overflow}px wider than a phone`);
  await shot('namespaces-phone');

  stage = 'signing out';
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/v1/status', { credentials: 'same-origin' })).status);
  must(after === 401, `after sign-out the API answered ${after}, want 401`);

  must(offOrigin.length === 0, `requests off the admin origin: ${offOrigin.join(' ')}`);
  must(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  await finish(0, JSON.stringify({ created, key, memoryError: memErrText, charted, shots: shotN }));
}

main().catch((e) => finish(1, `FAIL while ${stage}: ${e.message.split('\n')[0]}`));
