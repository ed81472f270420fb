#!/usr/bin/env node
// The namespaces table's plan column in headless Chromium against a
// running `clawd up` with billing (integration/console_test.go,
// TestConsolePlanColumn, sets it up against stripe-mock).
//
//   node console-plan.mjs <admin-base-url> <admin-token> <screenshot-dir> <subscribed-namespace> <plan> <other-namespace>
//
// Signs in, sees <plan> in the subscribed namespace's row and "none" in the
// other's, filters the table by the plan's name. Prints one JSON object on
// success; exits 1 with a one-line reason otherwise.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [base, token, shots, paying, plan, other] = process.argv.slice(2);
if (!other) {
  console.error('usage: node console-plan.mjs <admin-base-url> <admin-token> <screenshot-dir> <subscribed-namespace> <plan> <other-namespace>');
  process.exit(2);
}
let stage = 'starting';
let browser, page;
async function finish(code, msg) {
  if (code !== 0 && page) await page.screenshot({ path: path.join(shots, 'plan-failure.png'), fullPage: true }).catch(() => {});
  if (browser) await browser.close().catch(() => {});
  (code === 0 ? console.log : console.error)(msg);
  process.exit(code);
}
setTimeout(() => finish(1, `FAIL: timed out while ${stage}`), 90_000).unref();
function must(cond, msg) { if (!cond) throw new Error(msg); }

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.setDefaultTimeout(30_000);
  stage = 'signing in';
  await page.goto(`${base}/console/#/namespaces`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  stage = 'the plan column';
  const cell = (ns) => page.locator(`tr[data-namespace="${ns}"] td[data-col="plan"]`);
  await cell(paying).filter({ hasText: new RegExp(`^${plan}$`) }).waitFor();
  const otherPlan = (await cell(other).textContent()).trim();
  must(otherPlan === 'none', `${other} without a subscription shows plan ${JSON.stringify(otherPlan)}`);
  stage = 'filtering by plan';
  await page.getByLabel('Filter').fill(plan);
  const rows = await page.locator('tbody tr[data-namespace]').evaluateAll((rs) => rs.map((r) => r.dataset.namespace));
  must(JSON.stringify(rows) === JSON.stringify([paying]), `filtering by ${plan} kept ${rows}`);
  await page.getByLabel('Filter').fill('');
  await page.screenshot({ path: path.join(shots, 'namespaces-plans.png'), fullPage: true });
  await finish(0, JSON.stringify({ plan, other: otherPlan, filtered: rows }));
}

main().catch((e) => finish(1, `FAIL while ${stage}: ${e.message.split('\n')[0]}`));
