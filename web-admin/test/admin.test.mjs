// Browser tests of the admin console: Debian's Chromium (driven by
// playwright-core) uses the console against a real Herald, as an operator
// and as a tenant admin. Needs HERALD_URL, HERALD_OPERATOR_KEY and
// REDACT_WASM (the example plugin); `cargo test -p herald --test e2e
// admin_ui` starts a Herald and sets them. Screenshots go to
// SCREENSHOT_DIR (default target/admin-screenshots).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startDevServer } from './devserver.mjs';

const HERALD_URL = process.env.HERALD_URL?.replace(/\/+$/, '');
const OPERATOR_KEY = process.env.HERALD_OPERATOR_KEY;
const REDACT_WASM = process.env.REDACT_WASM;
if (!HERALD_URL || !OPERATOR_KEY || !REDACT_WASM) {
  throw new Error(
    'HERALD_URL, HERALD_OPERATOR_KEY and REDACT_WASM must be set: these tests run against a real Herald ' +
      '(`cargo test -p herald --test e2e admin_ui` starts one and sets them)',
  );
}
if (!existsSync(REDACT_WASM)) throw new Error(`REDACT_WASM=${REDACT_WASM} does not exist`);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium)`);
}
const SHOTS = process.env.SCREENSHOT_DIR ?? fileURLToPath(new URL('../../target/admin-screenshots/', import.meta.url));
mkdirSync(SHOTS, { recursive: true });
console.log(`screenshots: ${SHOTS}`);

const TIMEOUT = 240_000;
const WAIT = 20_000;

/** The console's origin and URL: Herald's own /admin/, or the stand-in while Herald does not serve it. */
let origin = '';
let consoleUrl = '';
/** @type {{close: () => void} | null} */
let dev = null;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  const res = await fetch(`${HERALD_URL}/admin/`).catch(() => null);
  const ct = res?.headers.get('content-type') ?? '';
  if (res?.ok && ct.startsWith('text/html')) {
    origin = HERALD_URL;
    console.log(`console: served by Herald at ${HERALD_URL}/admin/`);
  } else if (process.env.WEB_ADMIN_STANDALONE !== '1') {
    throw new Error(
      `Herald answered ${res?.status ?? 'nothing'} (${ct}) on /admin/: it should serve the console. ` +
        '(WEB_ADMIN_STANDALONE=1 serves web-admin/ from the test itself, for a Herald without /admin/.)',
    );
  } else {
    const s = await startDevServer(HERALD_URL);
    dev = s;
    origin = s.url;
    console.log(`console: Herald answered ${res?.status} on /admin/; serving web-admin/ from the test's stand-in at ${origin}/admin/`);
  }
  consoleUrl = `${origin}/admin/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});

after(async () => {
  await browser?.close();
  dev?.close();
});

/** Herald's API, for setting up and checking what the UI did. */
async function api(/** @type {string} */ method, /** @type {string} */ p, /** @type {string} */ key, /** @type {unknown} */ body) {
  const res = await fetch(`${HERALD_URL}${p}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/**
 * A page in a fresh context that records CSP violations, uncaught errors,
 * console errors and requests to other origins.
 */
async function openConsole() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  /** @type {string[]} */
  const problems = [];
  /** @type {string[]} */
  const consoleErrors = [];
  /** @type {string[]} */
  const foreign = [];
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e}`));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content.Security.Policy|CSP violation/i.test(text)) problems.push(`csp: ${text}`);
    // Chromium logs every 4xx answer as "Failed to load resource"; the tests provoke some on purpose.
    else if (m.type() === 'error' && !/Failed to load resource/.test(text)) consoleErrors.push(text);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(`${origin}/`) && !u.startsWith('data:')) foreign.push(u);
  });
  page.on('requestfailed', (r) => {
    const u = r.url();
    // Streams end when the tail stops or the page leaves; nothing else may fail.
    // Leaving a screen aborts its requests on purpose (ERR_ABORTED).
    if (!u.includes('/stream?') && !u.includes('/notifications?') && r.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${u} ${r.failure()?.errorText}`);
  });
  return {
    context,
    page,
    /** @param {string} name */
    async shot(name) {
      await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    },
    assertClean() {
      assert.deepEqual(problems, [], 'CSP violations, uncaught errors or failed requests');
      assert.deepEqual(consoleErrors, [], 'console errors');
      assert.deepEqual(foreign, [], 'requests to other origins');
    },
  };
}

/** @param {import('playwright-core').Page} page @param {string} key */
async function login(page, key) {
  await page.goto(consoleUrl);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Opens a screen from the main navigation and waits until it has rendered,
 * so that the next step cannot act on the screen being replaced.
 * @param {import('playwright-core').Page} page @param {string} name @param {string} pathEnd
 */
async function openScreen(page, name, pathEnd) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
  await page.locator(`#screen[data-ready="true"][data-path$="${pathEnd}"]`).waitFor();
}

/** Clicks `name` in the open dialog. @param {import('playwright-core').Page} page @param {string | RegExp} name */
async function inDialog(page, name) {
  const dialog = page.locator('dialog[open]');
  await dialog.getByRole('button', { name }).click();
  await dialog.waitFor({ state: 'detached' });
}

test('an operator runs a tenant through the console', { timeout: TIMEOUT }, async () => {
  const c = await openConsole();
  const { page } = c;
  try {
    // A wrong key gets a clear error.
    await page.goto(consoleUrl);
    await c.shot('01-login');
    await login(page, 'hop_not-a-real-key');
    await page.getByRole('alert').filter({ hasText: 'Unknown key' }).waitFor();
    await c.shot('02-login-wrong-key');

    await login(page, OPERATOR_KEY);
    await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
    assert.match(page.url(), /#\/tenants$/);

    // Create, rename.
    const name = `ui-${process.pid}-${Date.now()}`;
    await page.getByLabel('New tenant name').fill(name);
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByText(`Created tenant ${name}`).waitFor();
    const row = () => page.getByRole('row').filter({ hasText: name });
    const tenantId = (await row().locator('code').first().textContent())?.trim() ?? '';
    assert.match(tenantId, /^ten_/);
    await row().getByRole('button', { name: 'Rename' }).click();
    await page.locator('dialog[open]').getByLabel('New name').fill(`${name}-x`);
    await inDialog(page, 'Rename');
    await page.getByRole('link', { name: `${name}-x` }).waitFor();
    const renamed = `${name}-x`;
    assert.equal((await api('GET', `/v1/tenants/${tenantId}`, OPERATOR_KEY)).json.name, renamed);

    // Delete asks first; Escape cancels, and focus stays in the dialog meanwhile.
    await row().getByRole('button', { name: 'Delete' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      assert.ok(await page.evaluate(() => Boolean(document.activeElement?.closest('dialog[open]'))), 'focus stays in the dialog');
    }
    await c.shot('03-confirm-dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await api('GET', `/v1/tenants/${tenantId}`, OPERATOR_KEY)).status, 200);

    // Suspend and resume, where the server supports it; otherwise the console says what Herald answered.
    const supportsSuspend = 'suspended' in (await api('GET', `/v1/tenants/${tenantId}`, OPERATOR_KEY)).json;
    await row().getByRole('button', { name: 'Suspend' }).click();
    await inDialog(page, 'Suspend');
    if (supportsSuspend) {
      await row().getByText('Suspended').waitFor();
      assert.equal((await api('GET', `/v1/tenants/${tenantId}`, OPERATOR_KEY)).json.suspended, true);
      await row().getByRole('button', { name: 'Resume' }).click();
      await row().getByText('Active').waitFor();
    } else {
      await page.getByRole('alert').filter({ hasText: '422' }).waitFor();
      console.log('note: this Herald has no tenant suspension yet; the console showed its 422');
    }
    await c.shot('04-tenants');

    // Quotas.
    await row().getByRole('link', { name: 'Quotas' }).click();
    await page.locator('#screen[data-ready="true"][data-path$="/quotas"]').waitFor();
    await page.getByLabel('Publishes per second (per node)').fill('1000');
    await page.getByRole('button', { name: 'Save quotas' }).click();
    await page.getByText('Quotas saved.').waitFor();
    assert.equal((await api('GET', `/v1/tenants/${tenantId}/quotas`, OPERATOR_KEY)).json.publishes_per_second, 1000);
    await c.shot('05-quotas');

    // A channel.
    await openScreen(page, 'Channels', '/channels');
    await page.getByLabel('Channel name').fill('orders');
    await page.getByLabel('Keep at most (notifications)').fill('100');
    await page.getByRole('button', { name: 'Create channel' }).click();
    await page.getByText('Created channel orders.').waitFor();
    await page.getByRole('row').filter({ hasText: '100 notifications' }).waitFor();
    await c.shot('06-channels');

    // An admin key: its secret is shown once and copies to the clipboard.
    await openScreen(page, 'Keys', '/keys');
    await page.getByLabel('Key name').fill('console-admin');
    await page.getByLabel('admin (implies publish)').check();
    await page.getByRole('button', { name: 'Create API key' }).click();
    const secretBox = page.locator('dialog[open] hx-secret input');
    await secretBox.waitFor();
    const adminKey = await secretBox.inputValue();
    assert.match(adminKey, /^hk_/);
    await page.locator('dialog[open]').getByText('will never show it again').waitFor();
    await page.locator('dialog[open]').getByRole('button', { name: 'Copy' }).click();
    await page.locator('dialog[open] .copy-status').getByText('Copied', { exact: true }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), adminKey);
    await c.shot('07-secret-once');
    await inDialog(page, 'I have copied it');
    // An HS256 signing key for the live tail's tokens.
    await page.getByRole('button', { name: 'Create signing key' }).click();
    const skSecret = await page.locator('dialog[open] hx-secret input').inputValue();
    assert.match(skSecret, /^hss_/);
    await inDialog(page, 'I have copied it');
    await page.getByRole('row').filter({ hasText: 'console-admin' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'HS256' }).waitFor();
    await c.shot('08-keys');

    // Upload the redact plugin and test it.
    await openScreen(page, 'Plugins', '/plugins');
    await page.getByLabel('Component (.wasm)').setInputFiles(REDACT_WASM);
    await page.getByLabel('Name', { exact: true }).fill('redact');
    await page.getByLabel('Version', { exact: true }).fill('1.0.0');
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText(/Uploaded redact 1\.0\.0/).waitFor();
    await page.getByRole('heading', { name: 'Plugin redact' }).waitFor();
    await page.getByRole('button', { name: 'Run test' }).click();
    const out = page.locator('#test-output');
    await out.waitFor();
    const decision = await out.locator('dd').first().textContent();
    assert.equal(decision, 'replace', await out.textContent());
    const output = (await page.locator('.test-result pre').textContent()) ?? '';
    assert.ok(!output.includes('ada@example.com'), output);
    assert.match((await out.textContent()) ?? '', /µs/);
    await c.shot('09-plugins');

    // Put redact on the channel's chain, fail-closed.
    await openScreen(page, 'Channels', '/channels');
    await page.getByRole('row').filter({ hasText: 'orders' }).getByRole('link', { name: 'Edit' }).click();
    await page.locator('#screen[data-ready="true"][data-path$="/channels/orders"]').waitFor();
    await page.getByRole('button', { name: 'Add a step' }).click();
    await page.getByLabel('Plugin', { exact: true }).fill('redact');
    await page.getByLabel('When a plugin fails').selectOption('fail-closed');
    await page.getByRole('button', { name: 'Save channel' }).click();
    await page.getByText('Channel saved.').waitFor();
    const ch = (await api('GET', `/v1/tenants/${tenantId}/channels/orders`, OPERATOR_KEY)).json;
    assert.deepEqual([ch.plugins.map((/** @type {any} */ p) => p.plugin), ch.failure_policy], [['redact'], 'fail-closed']);
    await c.shot('10-channel-edit');

    // Live tail: start, publish from the form, see it (redacted) arrive.
    await openScreen(page, 'Live tail', '/tail');
    await page.getByRole('button', { name: 'Start tail' }).click();
    await page.locator('#tail-status[data-state="open"]').waitFor();
    console.log(
      (await page.locator('fieldset.fallback').isVisible())
        ? 'note: this Herald has no POST …/tokens; the tail signed its token in the page with the HS256 key'
        : 'live tail: subscriber token minted by Herald (POST …/tokens)',
    );
    await page.getByLabel('Type', { exact: true }).fill('ui.test');
    await page.getByLabel('Data (JSON)').fill('{"text": "write to ada@example.com"}');
    await page.getByRole('button', { name: 'Send test notification' }).click();
    const published = (await page.getByText(/Published notification #\d+/).textContent()) ?? '';
    const id = Number(published.match(/#(\d+)/)?.[1]);
    const item = page.locator(`#tail-log li[data-id="${id}"]`);
    await item.waitFor();
    assert.equal(await item.getAttribute('data-type'), 'ui.test');
    assert.ok(!((await item.textContent()) ?? '').includes('ada@example.com'), 'the chain redacted it');
    // Pause: nothing arrives; resume: what was published meanwhile comes, in order.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('#tail-status[data-state="paused"]').waitFor();
    await page.getByLabel('Type', { exact: true }).fill('ui.while-paused');
    await page.getByRole('button', { name: 'Send test notification' }).click();
    await page.getByText(`Published notification #${id + 1}`).waitFor();
    await page.waitForTimeout(500);
    assert.equal(await page.locator(`#tail-log li[data-id="${id + 1}"]`).count(), 0);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator(`#tail-log li[data-id="${id + 1}"]`).waitFor();
    await c.shot('11-live-tail');

    // History: filter by type, find it, open its timeline.
    await openScreen(page, 'History', '/history');
    await page.getByLabel('Type', { exact: true }).fill('ui.test');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/type=ui\.test/);
    // The results of this search, not the page's earlier, unfiltered ones.
    const hist = page.locator('#history-results[data-loaded="true"][data-type="ui.test"]');
    await hist.getByRole('row').filter({ hasText: `#${id}` }).waitFor();
    assert.equal(await hist.getByRole('row').filter({ hasText: 'ui.while-paused' }).count(), 0, 'the type filter applies');
    await c.shot('12-history');
    await hist.getByRole('link', { name: `Timeline of #${id}` }).click();
    await page.getByRole('heading', { name: `Notification #${id}` }).waitFor();
    await page.locator('#timeline li[data-kind="published"]').waitFor();
    await c.shot('13-timeline');

    // Recipients.
    await openScreen(page, 'Recipients', '/recipients');
    await page.getByLabel('User id (token sub)').fill('42');
    await page.getByLabel('Email address').fill('ada@example.com');
    await page.getByLabel('Email for').selectOption('list');
    await page.getByLabel('Channels and patterns (space-separated)').fill('orders');
    await page.getByRole('button', { name: 'Save recipient' }).click();
    await page.getByText('Saved recipient 42.').waitFor();
    assert.deepEqual((await api('GET', `/v1/tenants/${tenantId}/recipients/42`, OPERATOR_KEY)).json.preferences.email.channels, ['orders']);
    await c.shot('14-recipients');

    // Dashboard: the charts fill in.
    await openScreen(page, 'Dashboard', '/dashboard');
    await page.waitForFunction(() => {
      const charts = [...document.querySelectorAll('hx-sparkline')];
      return charts.length === 3 && charts.every((c) => /** @type {any} */ (c).samples.length >= 2 && c.querySelector('polyline'));
    });
    await page.getByText(/published, \d+ delivered since start/).waitFor();
    await c.shot('15-dashboard');
    await page.getByRole('link', { name: 'Server stats' }).click();
    await page.locator('#screen[data-ready="true"][data-path$="/stats"]').waitFor();
    await page.getByRole('heading', { name: 'Top tenants' }).waitFor();
    await page.getByRole('link', { name: renamed }).waitFor();
    await c.shot('16-server-stats');

    // Theme toggle, and a tablet-sized window.
    const before = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.locator('#theme-toggle').click();
    const afterTheme = await page.evaluate(() => document.documentElement.dataset.theme);
    assert.notEqual(afterTheme, before);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await c.shot(`17-theme-${afterTheme}`);
    await page.locator('#theme-toggle').click();
    assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), bg);
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.goto(`${consoleUrl}#/t/${tenantId}/channels`);
    await page.getByRole('heading', { name: 'Channels', level: 1 }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 768), 'no horizontal scrolling at 768 px');
    await c.shot('18-tablet-channels');
    await page.setViewportSize({ width: 1280, height: 900 });

    // Delete the channel, then the tenant.
    await page.getByRole('row').filter({ hasText: 'orders' }).getByRole('button', { name: 'Delete' }).click();
    await inDialog(page, 'Delete channel');
    await page.getByText('Deleted channel orders.').waitFor();
    assert.equal((await api('GET', `/v1/tenants/${tenantId}/channels/orders`, OPERATOR_KEY)).status, 404);
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.locator('#screen[data-ready="true"][data-path$="/tenants"]').waitFor();
    await row().getByRole('button', { name: 'Delete' }).click();
    await inDialog(page, 'Delete tenant');
    await page.getByText(`Deleted tenant ${renamed}.`).waitFor();
    assert.equal((await api('GET', `/v1/tenants/${tenantId}`, OPERATOR_KEY)).status, 404);

    // Log out forgets the key.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    c.assertClean();
  } catch (e) {
    await c.shot('failure-operator').catch(() => {});
    throw e;
  } finally {
    await c.context.close();
  }
});

test('a tenant admin key sees only its own tenant', { timeout: TIMEOUT }, async () => {
  const { json: t } = await api('POST', '/v1/tenants', OPERATOR_KEY, { name: `ui-tenant-${process.pid}-${Date.now()}` });
  const { json: other } = await api('POST', '/v1/tenants', OPERATOR_KEY, { name: `ui-other-${process.pid}-${Date.now()}` });
  const { json: key } = await api('POST', `/v1/tenants/${t.id}/keys`, OPERATOR_KEY, { name: 'admin', scopes: ['admin'] });
  const { json: publishKey } = await api('POST', `/v1/tenants/${t.id}/keys`, OPERATOR_KEY, { name: 'pub', scopes: ['publish'] });
  await api('POST', `/v1/tenants/${t.id}/channels`, OPERATOR_KEY, { name: 'mine' });
  const c = await openConsole();
  const { page } = c;
  try {
    // A publish-only key cannot administer its tenant: a clear refusal.
    await login(page, publishKey.secret);
    await page.getByRole('alert').filter({ hasText: 'cannot administer' }).waitFor();

    // An admin key lands on its own tenant (found with GET /v1/whoami).
    await login(page, key.secret);
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await page.waitForURL(new RegExp(`#/t/${t.id}/dashboard$`));
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Tenants' }).count(), 0);
    assert.equal(await nav.getByRole('link', { name: 'Server stats' }).count(), 0);
    await openScreen(page, 'Channels', '/channels');
    await page.getByRole('row').filter({ hasText: 'mine' }).waitFor();
    await c.shot('20-tenant-admin-channels');
    // Quotas are read-only for a tenant key.
    await openScreen(page, 'Quotas', '/quotas');
    await page.getByText('Only the operator can change quotas.').waitFor();
    assert.ok(await page.getByLabel('Emails per day').isDisabled());
    // Operator screens and other tenants lead back to its own dashboard.
    for (const hash of ['#/tenants', '#/stats', `#/t/${other.id}/channels`]) {
      await page.goto(`${consoleUrl}${hash}`);
      await page.waitForURL(new RegExp(`#/t/${t.id}/dashboard$`));
    }
    c.assertClean();
  } finally {
    await c.context.close();
    await api('DELETE', `/v1/tenants/${t.id}`, OPERATOR_KEY);
    await api('DELETE', `/v1/tenants/${other.id}`, OPERATOR_KEY);
  }
});

test('a tenant admin allows origins and sees the refused ones', { timeout: TIMEOUT }, async () => {
  const { json: t } = await api('POST', '/v1/tenants', OPERATOR_KEY, { name: `ui-origins-${process.pid}-${Date.now()}` });
  const { json: key } = await api('POST', `/v1/tenants/${t.id}/keys`, OPERATOR_KEY, { name: 'admin', scopes: ['admin'] });
  // A page on another origin: a blank one this test serves on another port
  // of the loopback address (a page the browser thinks public may not reach
  // loopback at all, whatever Herald says).
  const app = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>'));
  await new Promise((resolve) => app.listen(0, '127.0.0.1', () => resolve(undefined)));
  const otherOrigin = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (app.address()).port}`;
  const stream = `${HERALD_URL}/v1/tenants/${t.id}/stream?channel=orders`;
  const c = await openConsole();
  const { page } = c;
  const other = await c.context.newPage();
  /** @type {string[]} */
  const otherConsole = [];
  other.on('console', (m) => otherConsole.push(m.text()));
  /** What the other origin's script sees of a cross-origin fetch: the status, or the error CORS gives it. */
  const fetchFromOther = () =>
    other.evaluate(async (url) => {
      try {
        return (await fetch(url)).status;
      } catch (e) {
        return String(e);
      }
    }, stream);
  try {
    await login(page, key.secret);
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await openScreen(page, 'Allowed origins', '/origins');
    await page.getByText('No origins allowed').waitFor();
    await page.locator('#origin-refusals[data-refused="0"]').waitFor();

    // Add one; an invalid one gets Herald's 422 with the reason.
    await page.getByLabel('Origin', { exact: true }).fill('https://app.example.com/');
    await page.getByRole('button', { name: 'Add origin' }).click();
    await page.getByRole('alert').filter({ hasText: '422' }).waitFor();
    await page.getByLabel('Origin', { exact: true }).fill('https://app.example.com');
    await page.getByRole('button', { name: 'Add origin' }).click();
    await page.getByText('Allowed https://app.example.com.').waitFor();
    await page.locator('#origins-list').getByRole('row').filter({ hasText: 'https://app.example.com' }).waitFor();
    assert.deepEqual((await api('GET', `/v1/tenants/${t.id}/allowed-origins`, key.secret)).json.origins, ['https://app.example.com']);

    // A page on another origin opens a stream: refused, and the browser says only that CORS blocked it.
    await other.goto(`${otherOrigin}/`);
    const opened = await other.evaluate(
      (url) =>
        new Promise((resolve) => {
          const es = new EventSource(url);
          es.onopen = () => (es.close(), resolve('open'));
          es.onerror = () => (es.close(), resolve('error'));
        }),
      stream,
    );
    assert.equal(opened, 'error', 'a stream from an origin not allowed fails in the browser');
    // The console shows it (it refreshes every 2 s): the counter and the origin.
    await page.locator('#origin-refusals[data-refused="1"]').waitFor();
    const refusedRow = page.locator('#origin-refusals').getByRole('row').filter({ hasText: otherOrigin });
    await refusedRow.waitFor();
    assert.equal(await refusedRow.getByRole('cell').nth(1).textContent(), '1', 'one refusal of that origin');
    await c.shot('21-allowed-origins-refused');
    assert.match(String(await fetchFromOther()), /TypeError/, 'still refused before it is allowed');

    // Allow it from the refusal: listed, and the other origin's page may now read Herald's answers.
    await refusedRow.getByRole('button', { name: 'Allow' }).click();
    await page.getByText(`Allowed ${otherOrigin}.`).waitFor();
    await page.locator('#origins-list').getByRole('row').filter({ hasText: otherOrigin }).waitFor();
    await refusedRow.getByText('Allowed now').waitFor();
    assert.deepEqual((await api('GET', `/v1/tenants/${t.id}/allowed-origins`, key.secret)).json.origins, ['https://app.example.com', otherOrigin]);
    assert.equal(await fetchFromOther(), 401, 'an allowed origin reads the answer (401: the test sent no token)');
    const refused = (await api('GET', `/v1/tenants/${t.id}/allowed-origins/refusals`, key.secret)).json.refused;
    assert.equal(refused, 2, 'the stream and the fetch were refused; the allowed fetch was not');
    console.log(`the other origin's console said: ${JSON.stringify(otherConsole)}`);

    // Remove one.
    await page.locator('#origins-list').getByRole('row').filter({ hasText: 'https://app.example.com' }).getByRole('button', { name: 'Remove' }).click();
    await page.getByText('Removed https://app.example.com.').waitFor();
    assert.deepEqual((await api('GET', `/v1/tenants/${t.id}/allowed-origins`, key.secret)).json.origins, [otherOrigin]);
    await c.shot('22-allowed-origins');
    c.assertClean();
  } catch (e) {
    await c.shot('failure-origins').catch(() => {});
    throw e;
  } finally {
    await c.context.close();
    app.close();
    await api('DELETE', `/v1/tenants/${t.id}`, OPERATOR_KEY);
  }
});

test('a tenant admin sets up the Mercure hub, and the secret is never shown again', { timeout: TIMEOUT }, async () => {
  const { json: t } = await api('POST', '/v1/tenants', OPERATOR_KEY, { name: `ui-mercure-${process.pid}-${Date.now()}` });
  const { json: key } = await api('POST', `/v1/tenants/${t.id}/keys`, OPERATOR_KEY, { name: 'admin', scopes: ['admin'] });
  const c = await openConsole();
  const { page } = c;
  const secret = '!ChangeThisMercureHubJWTSecretKey!';
  try {
    await login(page, key.secret);
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await openScreen(page, 'Mercure hub', '/mercure');
    await page.locator('#mercure-none').waitFor();

    // A secret too short: Herald's 422 names the field, and nothing is kept.
    await page.getByLabel('Key', { exact: true }).fill('too-short');
    await page.getByLabel('Issuer', { exact: true }).fill('https://example.com');
    await page.getByLabel('Audience', { exact: true }).fill('https://hub.example.com/.well-known/mercure');
    await page.getByRole('button', { name: 'Save hub settings' }).click();
    await page.getByRole('alert').filter({ hasText: '422' }).filter({ hasText: 'jwt_key' }).waitFor();
    assert.equal((await api('GET', `/v1/tenants/${t.id}/mercure`, key.secret)).status, 404, 'nothing was kept');

    await page.getByLabel('Key', { exact: true }).fill(secret);
    await page.getByLabel('Anonymous subscribers').check();
    await page.getByLabel('CORS origins').fill('https://app.example.com\n\nhttps://admin.example.com');
    await page.getByRole('button', { name: 'Save hub settings' }).click();
    await page.getByText('Saved the hub settings.').waitFor();
    const hubUrl = await page.locator('#mercure-hub-url').textContent();
    assert.equal(hubUrl, `${origin}/v1/tenants/${t.id}/.well-known/mercure`, "the hub on the console's own origin");
    assert.equal(await page.getByLabel('Key', { exact: true }).inputValue(), '', 'the secret leaves the page once saved');
    const saved = (await api('GET', `/v1/tenants/${t.id}/mercure`, key.secret)).json;
    assert.deepEqual(
      { alg: saved.jwt_alg, key: saved.public_key, anonymous: saved.anonymous, origins: saved.cors_origins, compat: saved.compat_0x },
      { alg: 'HS256', key: null, anonymous: true, origins: ['https://app.example.com', 'https://admin.example.com'], compat: false },
    );
    await c.shot('23-mercure-hub');

    // Shown again after a reload, without the secret; a change with the key left empty keeps it.
    await page.reload();
    await page.locator('#screen[data-ready="true"][data-path$="/mercure"]').waitFor();
    assert.equal(await page.getByLabel('Issuer', { exact: true }).inputValue(), 'https://example.com');
    assert.equal(await page.getByLabel('Key', { exact: true }).inputValue(), '', 'never shown again');
    assert.ok(!(await page.content()).includes(secret), 'the secret is nowhere in the page');
    await page.getByLabel('Mercure 0.x clients').check();
    await page.getByRole('button', { name: 'Save hub settings' }).click();
    await page.getByText('Saved the hub settings.').waitFor();
    const kept = (await api('GET', `/v1/tenants/${t.id}/mercure`, key.secret)).json;
    assert.equal(kept.compat_0x, true);
    assert.equal(kept.jwt_alg, 'HS256');
    c.assertClean();
  } catch (e) {
    await c.shot('failure-mercure').catch(() => {});
    throw e;
  } finally {
    await c.context.close();
    await api('DELETE', `/v1/tenants/${t.id}`, OPERATOR_KEY);
  }
});
