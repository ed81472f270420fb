#!/usr/bin/env node
// Drives clawd's operator console in headless Chromium against a running
// `clawd up` (integration/console_test.go starts it and checks the results
// against the API).
//
//   node console.mjs <admin-base-url> <admin-token> <screenshot-dir> <metered-namespace> <tokens-used> <model-calls>
//
// Steps: a wrong token is refused; sign in; the overview (its memory budget
// is the status API's, and it updates without a reload); create a namespace
// (a bad memory size first: the API's error next to its field) and see it
// Running with its memory now; the metered namespace's charts: tokens and
// model calls per day add up to <tokens-used> and <model-calls>, the CPU
// and memory charts hold the readings the resources API returns; create
// an API key and see it once; sleep and wake, and see both in the phase
// history; the key's creation among the audit events; the usage page shows
// <tokens-used> and offers the CSV; a daemon that stops answering shows a
// banner; the namespaces page at a phone's width. Prints one JSON object
// ({"created":…, "key":…}) on success and exits 0; exits 1 with a
// one-line reason otherwise. Screenshots: <screenshot-dir>/NN-page.png.
//
// Chromium is Debian's (/usr/bin/chromium, or CHROMIUM=path).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [base, token, shots, metered, tokensArg, callsArg] = process.argv.slice(2);
if (!callsArg) {
  console.error('usage: node console.mjs <admin-base-url> <admin-token> <screenshot-dir> <metered-namespace> <tokens-used> <model-calls>');
  process.exit(2);
}
const tokensUsed = Number(tokensArg);
const modelCalls = Number(callsArg);
const created = 'webui';
const OVERALL_MS = 240_000;
let stage = 'starting';
let browser, page, shotN = 0, usageError = '';

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
const apiGet = (p) => page.evaluate(async (u) => {
  const r = await fetch(u, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`${u}: ${r.status}`);
  return r.json();
}, p);
const sum = (a) => a.reduce((s, n) => s + (n ?? 0), 0);
const numberIn = (text) => Number(text.replace(/,/g, ''));
// The page has no horizontal scroll bar at the current width.
async function fits(what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  must(overflow <= 0, `${what} is ${overflow}px wider than the window`);
}
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
  stage = 'the memory budget on the overview';
  const mem = page.locator('[data-testid="mem-used"]');
  await mem.waitFor();
  const st = await apiGet('/api/v1/status');
  must(st.memory && st.memory.budgetBytes > 0, `status reports no memory budget: ${JSON.stringify(st.memory)}`);
  must(Number(await mem.getAttribute('data-budget-bytes')) === st.memory.budgetBytes,
    `overview budget ${await mem.getAttribute('data-budget-bytes')}, status ${st.memory.budgetBytes}`);
  // Live: the page polls; what it shows is what status says at that time.
  const before = await page.locator('#ov-updated').textContent();
  await page.locator('#ov-updated').filter({ hasNotText: before }).waitFor({ timeout: 10_000 });
  const seen = Number(await mem.getAttribute('data-used-bytes'));
  const now = (await apiGet('/api/v1/status')).memory.usedBytes;
  must(seen === now || seen === st.memory.usedBytes, `overview shows ${seen} bytes held; status says ${now}`);
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
  stage = `the memory ${created} holds now, against its cap`;
  await page.locator(`tr[data-namespace="${created}"] td[data-col="memory"]`).filter({ hasText: /^\d[\d.]*[KMG]i \/ / }).waitFor({ timeout: 30_000 });
  must((await page.locator(`tr[data-namespace="${created}"] td[data-col="plan"]`).textContent()).trim() === 'none',
    'a namespace without a subscription shows a plan');
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

  stage = `the usage chart of ${metered}`;
  await page.goto(`${base}/console/#/namespaces/${metered}`);
  await page.locator('#chart .uplot canvas').first().waitFor();
  const cells = await page.locator('#chart td[data-model-day]').allTextContents();
  const charted = sum(cells.map(numberIn));
  must(charted === tokensUsed, `the chart's numbers add up to ${charted} tokens; the API's report says ${tokensUsed}`);
  const plotted = JSON.parse(await page.locator('#chart').getAttribute('data-series'));
  const plottedTokens = sum(Object.entries(plotted).filter(([k]) => k !== 'x').flatMap(([, v]) => v));
  must(plottedTokens === tokensUsed, `the chart plots ${plottedTokens} tokens; the API's report says ${tokensUsed}`);
  const calls = sum((await page.locator('#chart td[data-calls-day]').allTextContents()).map(numberIn));
  must(calls === modelCalls, `the table shows ${calls} model calls; the API's report says ${modelCalls}`);

  stage = `the CPU and memory charts of ${metered}`;
  await page.locator('#mem-chart .uplot canvas').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#res-table tbody tr').length >= 3, null, { timeout: 30_000 });
  const shown = await page.locator('#res-table tbody tr').evaluateAll((rows) => rows.map((r) => ({
    time: r.dataset.time, cpu: r.querySelector('[data-cpu-millis]').dataset.cpuMillis, mem: r.querySelector('[data-memory-bytes]').dataset.memoryBytes })));
  const memPlot = JSON.parse(await page.locator('#mem-chart').getAttribute('data-series'));
  const cpuPlot = JSON.parse(await page.locator('#cpu-chart').getAttribute('data-series'));
  const readings = (await apiGet(`/api/v1/namespaces/${metered}/resources?window=1h`)).points;
  const byTime = new Map(readings.map((p) => [p.time, p]));
  for (const r of shown) {
    const p = byTime.get(r.time);
    must(p, `the page shows a reading at ${r.time} the API does not have`);
    must(String(p.memoryBytes) === r.mem && String(p.cpuMillis ?? '') === r.cpu, `reading at ${r.time}: page ${r.cpu} m, ${r.mem} B; API ${JSON.stringify(p)}`);
  }
  const oldestFirst = [...shown].reverse();
  // A null marks a gap (no readings while asleep); the rest is the table.
  const real = memPlot.memory.map((n, i) => i).filter((i) => memPlot.memory[i] !== null);
  const pick = (a) => real.map((i) => a[i]);
  must(JSON.stringify(pick(memPlot.memory)) === JSON.stringify(oldestFirst.map((r) => Number(r.mem))), 'the memory chart plots other numbers than its table');
  must(JSON.stringify(pick(cpuPlot.cpu)) === JSON.stringify(oldestFirst.map((r) => (r.cpu === '' ? null : Number(r.cpu) / 1000))), 'the CPU chart plots other numbers than its table');
  must(JSON.stringify(pick(memPlot.x)) === JSON.stringify(oldestFirst.map((r) => Date.parse(r.time) / 1000)), 'the memory chart plots other times than its table');
  must(pick(memPlot.memory).every((n) => n > 0), 'a running gateway charted with no memory');
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
  stage = 'the key among the audit events';
  await page.locator('#events tr[data-type="apikey"]').first().waitFor();

  stage = `sleeping ${created}`;
  await page.getByRole('button', { name: 'Sleep', exact: true }).click();
  stage = `sleeping ${created}: the confirmation`;
  await page.getByRole('dialog').getByRole('button', { name: `Sleep ${created}` }).click();
  await page.locator('[data-testid="phase"] .phase', { hasText: /^Stopped$/ }).waitFor({ timeout: 60_000 });
  await shot('namespace-asleep');
  stage = `waking ${created}`;
  await page.getByRole('button', { name: 'Wake', exact: true }).click();
  await page.locator('[data-testid="phase"] .phase', { hasText: /^Running$/ }).waitFor({ timeout: 60_000 });
  stage = 'the sleep and the wake in the phase history';
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#history tbody tr')].map((r) => `${r.dataset.action}>${r.dataset.to}`);
    const sleep = rows.indexOf('sleep>Stopped');
    return rows[0] === 'wake>Running' && sleep > 0;
  }, null, { timeout: 30_000 });
  const history = await page.locator('#history tbody tr').evaluateAll((rows) => rows.map((r) => `${r.dataset.action}>${r.dataset.to}`));
  stage = 'the console\'s sleep request among the audit events';
  await page.locator('#events tr[data-type="namespace"][data-action$="/sleep"]').first().waitFor();
  stage = 'the audit events newest first (the wake above the sleep)';
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#events tbody tr')].map((r) => r.dataset.action || '');
    const wake = rows.findIndex((a) => a.endsWith('/wake'));
    const sleep = rows.findIndex((a) => a.endsWith('/sleep'));
    return wake >= 0 && sleep > wake;
  }, null, { timeout: 30_000 });
  stage = 'the sleep as a gap in the memory chart';
  await page.waitForFunction(() => {
    const s = JSON.parse(document.querySelector('#mem-chart')?.dataset.series || '{"memory":[]}');
    const gap = s.memory.indexOf(null);
    return gap > 0 && s.memory.slice(gap + 1).some((n) => n > 0);
  }, null, { timeout: 30_000 });
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

  stage = 'a bad usage period';
  await page.getByLabel('Period', { exact: true }).fill('someday');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.locator('#period-error').filter({ hasText: /someday/ }).waitFor();
  must(await page.locator('#period').getAttribute('aria-invalid') === 'true', 'the bad period is not marked invalid');
  usageError = (await page.locator('#period-error').textContent()).trim();
  await shot('usage-bad-period');

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
  await fits('the namespaces page on a phone');
  await shot('namespaces-phone');
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.locator('[data-testid="mem-used"]').waitFor();
  await fits('the overview on a phone');
  await shot('overview-phone');
  await page.goto(`${base}/console/#/namespaces/${metered}`);
  await page.locator('#mem-chart .uplot canvas').waitFor();
  await fits('the namespace page on a phone');
  await shot('namespace-phone');

  stage = 'the keyboard';
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${base}/console/#/namespaces`);
  await page.reload(); // focus starts at the top of a fresh page
  await page.locator(`tr[data-namespace="${created}"]`).waitFor();
  await page.keyboard.press('Tab'); // the skip link first
  must(await page.evaluate(() => document.activeElement?.textContent) === 'Skip to content', 'the first Tab does not reach the skip link');
  // Every form field has a label.
  const unlabelled = await page.locator('input, select, textarea').evaluateAll((els) => els.filter((e) => !e.labels?.length && !e.getAttribute('aria-label')).map((e) => e.id || e.outerHTML));
  must(unlabelled.length === 0, `fields without a label: ${unlabelled.join(' ')}`);

  stage = 'signing out';
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/v1/status', { credentials: 'same-origin' })).status);
  must(after === 401, `after sign-out the API answered ${after}, want 401`);

  must(offOrigin.length === 0, `requests off the admin origin: ${offOrigin.join(' ')}`);
  must(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  await finish(0, JSON.stringify({ created, key, memoryError: memErrText, charted, calls, usageError, readings: shown.length, history, shots: shotN }));
}

main().catch((e) => finish(1, `FAIL while ${stage}: ${e.message.split('\n')[0]}`));
