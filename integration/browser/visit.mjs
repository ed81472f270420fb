#!/usr/bin/env node
// Visits URLs in turn in one headless Chromium profile, as a person would
// (redirects followed, cookies kept), and prints one JSON line per visit:
// {"url", "status", "finalUrl", "body"} (the page's text, 4 KB at most),
// then one line {"cookies": [...]} with the profile's cookies (name,
// domain, httpOnly, secure, sameSite; never values).
//
//   node visit.mjs <url> [<url>]...
//
// Exits 0 when every visit got an answer (whatever its status), 1 with a
// one-line reason otherwise, 2 on bad usage. Chromium is Debian's
// (/usr/bin/chromium, or CHROMIUM=path); playwright-core only drives it.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const OVERALL_MS = 60_000;
const urls = process.argv.slice(2);
if (urls.length === 0 || urls.some((u) => { try { new URL(u); return false; } catch { return true; } })) {
  console.error('usage: node visit.mjs <url> [<url>]...');
  process.exit(2);
}
const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clawd-visit-'));
let ctx = null;
async function finish(code, line) {
  try { await ctx?.close(); } catch {}
  fs.rmSync(profileDir, { recursive: true, force: true });
  if (line) (code === 0 ? console.log : console.error)(line);
  process.exit(code);
}
setTimeout(() => finish(1, `FAIL: timed out after ${OVERALL_MS / 1000}s`), OVERALL_MS).unref();

try {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) await finish(1, `FAIL: no Chromium at ${executablePath} (scripts/ensure-tools.sh installs Debian's chromium)`);
  ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: OVERALL_MS,
  });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  for (const url of urls) {
    const resp = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: OVERALL_MS });
    const body = (await page.locator('body').innerText({ timeout: 5_000 }).catch(() => '')).slice(0, 4096);
    console.log(JSON.stringify({ url, status: resp ? resp.status() : 0, finalUrl: page.url(), body }));
  }
  const cookies = (await ctx.cookies()).map((c) => ({ name: c.name, domain: c.domain, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite }));
  console.log(JSON.stringify({ cookies }));
  await finish(0, '');
} catch (e) {
  await finish(1, `FAIL: ${String(e && e.message || e).split('\n')[0]}`);
}
