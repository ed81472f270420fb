#!/usr/bin/env node
// Opens a gateway's Control UI in headless Chromium, opens the chat model
// picker and checks that a model is offered there.
//
//   node models.mjs <url> <expected-model-id> [--cookie name=value]...
//        [--header name=value]... [--token <gateway-token>] [--screenshot out.png]
//
// <expected-model-id> is "<provider>/<model>" (exact) or a bare "<model>"
// (any provider). Exits 0 and prints the models it saw when the expected one
// is among them; exits 1 with a one-line reason otherwise (2 on bad usage).
//
// Behind clawd's router no gateway token is needed: the router authenticates
// (an API key header, or its login cookie: --cookie) and the gateway trusts
// it (trusted-proxy mode). --header sends extra request headers on every
// request, WebSocket included (a hand-run gateway in trusted-proxy mode needs
// its user header and X-Forwarded-For); --token fills the login screen of a
// gateway in token mode.
//
// Chromium is Debian's (/usr/bin/chromium, or CHROMIUM=path); playwright-core
// only drives it (scripts/ensure-tools.sh installs both).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const OVERALL_MS = 90_000;
const started = Date.now();
const left = () => Math.max(1, OVERALL_MS - (Date.now() - started));

function usage(msg) {
  console.error(`models.mjs: ${msg}\nusage: node models.mjs <url> <expected-model-id> [--cookie name=value]... [--header name=value]... [--token t] [--screenshot out.png]`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { cookies: [], headers: {}, token: '', screenshot: '' };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const next = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--cookie': {
        const kv = next();
        const j = kv.indexOf('=');
        if (j <= 0) usage(`--cookie wants name=value, got ${JSON.stringify(kv)}`);
        o.cookies.push({ name: kv.slice(0, j), value: kv.slice(j + 1) });
        break;
      }
      case '--header': {
        const kv = next();
        const j = kv.search(/[=:]/);
        if (j <= 0) usage(`--header wants name=value, got ${JSON.stringify(kv)}`);
        o.headers[kv.slice(0, j).trim()] = kv.slice(j + 1).trim();
        break;
      }
      case '--token': o.token = next(); break;
      case '--screenshot': o.screenshot = next(); break;
      case '-h': case '--help': usage('help');
      default:
        if (a.startsWith('--')) usage(`unknown flag ${a}`);
        pos.push(a);
    }
  }
  if (pos.length !== 2) usage('want <url> and <expected-model-id>');
  [o.url, o.expected] = pos;
  try { new URL(o.url); } catch { usage(`not a URL: ${o.url}`); }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
let browser = null;
let page = null;
const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clawd-models-'));

async function shoot() {
  if (!opts.screenshot || !page) return;
  try { await page.screenshot({ path: opts.screenshot, timeout: 5_000 }); } catch {}
}

async function finish(code, line, extra = '') {
  await shoot();
  try { await browser?.close(); } catch {}
  fs.rmSync(profileDir, { recursive: true, force: true });
  if (extra) console.log(extra);
  (code === 0 ? console.log : console.error)(line);
  process.exit(code);
}

const watchdog = setTimeout(() => {
  finish(1, `FAIL: timed out after ${OVERALL_MS / 1000}s (${stage})`);
}, OVERALL_MS);
watchdog.unref();
let stage = 'starting Chromium';

// What the page shows that means we cannot get to the picker.
const BLOCKERS = [
  /disconnected \(\d+\): [^\n]{0,80}/i,
  /pairing required/i,
  /origin not allowed/i,
  /device identity required/i,
];

const TRIGGER = 'summary[data-chat-model-select="true"]';
const MENU = '.chat-controls__model-menu';
// The open picker: menus of pickers that are not shown stay in the DOM.
const OPEN = 'details.chat-controls__model-picker[open]';
const OPTION = '[data-chat-model-option]';
const EMPTY = /No models available|Models unavailable/;

function matches(id) {
  return id === opts.expected || (!opts.expected.includes('/') && id.endsWith('/' + opts.expected));
}

async function readModels() {
  // Model rows sit in provider groups; the Account rows share the attribute.
  return page.$$eval(`${OPEN} [data-chat-model-provider-group] ${OPTION}`, (els) => els.map((e) => ({
    id: e.getAttribute('data-chat-model-option') || '',
    name: (e.querySelector('.chat-controls__model-option-name')?.textContent || e.getAttribute('aria-label') || '').trim(),
    disabled: e.hasAttribute('disabled') || e.getAttribute('aria-disabled') === 'true',
  })));
}

function describe(models) {
  if (models.length === 0) return 'none';
  return models.map((m) => `${m.id}${m.name ? ` (${m.name})` : ''}${m.disabled ? ' [unavailable]' : ''}`).join(', ');
}

async function pageText() {
  try { return (await page.locator('body').innerText({ timeout: 2_000 })).replace(/\s+/g, ' ').trim(); } catch { return ''; }
}

try {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) await finish(1, `FAIL: no Chromium at ${executablePath} (scripts/ensure-tools.sh installs Debian's chromium)`);
  const ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
    extraHTTPHeaders: opts.headers,
    timeout: left(),
  });
  browser = ctx;
  if (opts.cookies.length) await ctx.addCookies(opts.cookies.map((c) => ({ ...c, url: opts.url })));
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.setDefaultTimeout(left());

  stage = `loading ${opts.url}`;
  const resp = await page.goto(opts.url, { waitUntil: 'domcontentloaded', timeout: left() });
  if (resp && resp.status() >= 400) {
    const body = (await resp.text().catch(() => '')).replace(/\s+/g, ' ').slice(0, 200);
    await finish(1, `FAIL: ${opts.url} answered HTTP ${resp.status()}: ${body}`);
  }

  // Wait for the chat composer's model picker, or a login screen we can fill
  // in, or a message that we cannot get further.
  stage = 'waiting for the Control UI to connect';
  const secret = page.locator('input[type="password"], input[autocomplete="current-password"]').first();
  let triedToken = false;
  for (;;) {
    // A contender that fails never settles: the race goes to another one,
    // or to the watchdog.
    const first = (p, tag) => p.then(() => tag, () => new Promise(() => {}));
    const which = await Promise.race([
      first(page.locator(`${TRIGGER} >> visible=true`).first().waitFor({ state: 'visible', timeout: left() }), 'picker'),
      first(secret.waitFor({ state: 'visible', timeout: left() }), 'login'),
      first(page.waitForFunction((res) => res.some((r) => new RegExp(r, 'i').test(document.body?.innerText || '')),
        BLOCKERS.map((r) => r.source), { timeout: left(), polling: 500 }), 'blocked'),
    ]);
    if (which === 'picker') break;
    if (which === 'blocked') {
      const t = await pageText();
      const hit = BLOCKERS.map((r) => t.match(r)?.[0]).find(Boolean);
      await finish(1, `FAIL: the Control UI did not connect: "${hit}" (page: ${t.slice(0, 200)})`);
    }
    // The login screen (a gateway in token or password mode).
    if (!opts.token) await finish(1, 'FAIL: the Control UI asks for a gateway secret; pass --token (behind clawd the router should have authenticated)');
    if (triedToken) await finish(1, `FAIL: the Control UI refused the token (page: ${(await pageText()).slice(0, 200)})`);
    stage = 'logging in with --token';
    triedToken = true;
    await secret.fill(opts.token);
    await secret.press('Enter');
    await secret.waitFor({ state: 'hidden', timeout: Math.min(left(), 30_000) }).catch(() => {});
  }

  // The picker shows "Loading models…" until the gateway's catalog arrives.
  stage = 'waiting for the model catalog';
  const trigger = page.locator(`${TRIGGER} >> visible=true`).first();
  await page.waitForFunction((sel) => [...document.querySelectorAll(sel)].some((t) =>
    t.getClientRects().length > 0 && t.getAttribute('aria-busy') !== 'true' && !/Loading models/i.test(t.textContent || '')),
  TRIGGER, { timeout: left(), polling: 250 });

  // The composer can re-render (a login, a session switch) and swallow a
  // click: click again until the menu shows.
  stage = 'opening the model picker';
  const menu = page.locator(`${MENU} >> visible=true`).first();
  for (;;) {
    if (!(await menu.isVisible())) await trigger.click({ timeout: left() });
    try {
      await menu.waitFor({ state: 'visible', timeout: Math.min(left(), 5_000) });
      break;
    } catch (err) {
      if (left() <= 1_000) throw err;
    }
  }

  // Options or the empty state; then the expected option, which may come
  // with a later catalog update (the picker re-renders in place).
  stage = 'reading the model picker';
  await page.waitForFunction(([open, opt, menuSel, empty]) => {
    const root = document.querySelector(open);
    return root && (root.querySelector(opt) || new RegExp(empty).test(root.querySelector(menuSel)?.textContent || ''));
  }, [OPEN, OPTION, MENU, EMPTY.source], { timeout: left(), polling: 250 });
  const expectedSel = opts.expected.includes('/')
    ? `${OPEN} [data-chat-model-option="${opts.expected.replace(/"/g, '\\"')}"]`
    : `${OPEN} [data-chat-model-option$="/${opts.expected.replace(/"/g, '\\"')}"]`;
  let models = await readModels();
  if (!models.some((m) => matches(m.id)) && !EMPTY.test(await menu.innerText())) {
    // Give a catalog refresh a moment to bring it (bounded, event-driven).
    await page.locator(expectedSel).first().waitFor({ state: 'attached', timeout: Math.min(left(), 10_000) }).catch(() => {});
    models = await readModels();
  }

  // Expand every provider group so a screenshot shows the models.
  const collapsed = page.locator(`${OPEN} [data-chat-model-provider-toggle][aria-expanded="false"]`);
  for (let n = await collapsed.count(); n > 0; n--) {
    if (await collapsed.count() === 0) break;
    await collapsed.first().click({ timeout: 2_000 }).catch(() => {});
  }

  const menuText = (await menu.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
  const listing = `models in the picker: ${describe(models)}`;
  const hit = models.find((m) => matches(m.id));
  if (!hit) {
    const why = models.length === 0
      ? `the picker offers no models (${(menuText.match(EMPTY) || [menuText.slice(0, 120)])[0]})`
      : `${opts.expected} is not among ${models.length} model(s) in the picker`;
    await finish(1, `FAIL: ${why}; ${listing}`);
  }
  await page.locator(`${OPEN} [data-chat-model-option="${hit.id.replace(/"/g, '\\"')}"]`).first().scrollIntoViewIfNeeded({ timeout: 2_000 }).catch(() => {});
  await finish(0, `OK: ${hit.id}${hit.disabled ? ' (shown, but unavailable)' : ''} is in the picker`, listing);
} catch (err) {
  const msg = String(err?.message || err).split('\n')[0];
  await finish(1, `FAIL: ${stage}: ${msg}`);
}
