// The API docs page (`/docs/`) in a real browser: it renders Herald's
// OpenAPI document with assets served by Herald itself, and asks nothing of
// any other host. It lives here because it shares these tests' Chromium
// setup; the Rust end-to-end test `browser` starts a Herald and sets HERALD_URL.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const HERALD_URL = process.env.HERALD_URL?.replace(/\/+$/, '');
if (!HERALD_URL) {
  throw new Error('HERALD_URL must be set: `cargo test -p herald --test e2e browser` starts a Herald and sets it');
}
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium)`);
}

test('the API docs render from assets inside the binary', { timeout: 60_000 }, async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  try {
    const page = await browser.newPage();
    /** @type {string[]} */
    const elsewhere = [];
    page.on('request', (r) => {
      const url = r.url();
      if (!url.startsWith(HERALD_URL) && !url.startsWith('data:')) elsewhere.push(url);
    });
    const res = await page.goto(`${HERALD_URL}/docs`);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/docs/');
    // The title comes from the OpenAPI document, so the page loaded it and rendered it.
    await page.locator('.information-container .title').filter({ hasText: 'Herald' }).waitFor({ timeout: 30_000 });
    // Operations are listed, e.g. the stream's.
    await page.locator('.opblock-summary-path', { hasText: '/v1/tenants/{tenant}/stream' }).first().waitFor({ timeout: 30_000 });
    assert.deepEqual(elsewhere, [], 'the docs page fetched nothing from another host');
  } finally {
    await browser.close();
  }
});
