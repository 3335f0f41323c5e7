// Browsers' six connections per origin over HTTP/1.1, and HTTP/2 as the
// way out: Debian's Chromium (driven by playwright-core) opens twelve
// EventSources to one Herald origin. Over HTTPS with HTTP/2 (one
// connection) all twelve open and receive a notification; over plain
// HTTP/1.1 six do, and the seventh to twelfth stall until one of the six
// is closed. Run by the Rust end-to-end test `tls`
// (tests/e2e/tls.rs), which starts both servers and sets HERALD_PAGES,
// HERALD_TLS_CERT and NODE_EXTRA_CA_CERTS. Not a `*.test.mjs`: the
// client's own `npm test` does not run it.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

/** @typedef {{origin: string, protocol: 'h2' | 'http/1.1', stream: string, publish: string, publishKey: string}} Page */

const PAGES = /** @type {Page[]} */ (JSON.parse(process.env.HERALD_PAGES ?? 'null'));
const CERT = process.env.HERALD_TLS_CERT;
if (!Array.isArray(PAGES) || !CERT) {
  throw new Error('HERALD_PAGES and HERALD_TLS_CERT must be set (`cargo test -p herald --test e2e tls::chromium` sets them)');
}
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const STREAMS = 12;
/** Chromium's limit of HTTP/1.1 connections per origin. */
const PER_ORIGIN = 6;
/** Bound for what must happen (generous: a busy machine is slow, not wrong). */
const WAIT = 60_000;
/** Bound for what must not happen while the six stay open. */
const QUIET = 3_000;

// Chromium accepts the test's certificate by its public key's hash, and
// nothing else it would otherwise refuse.
const spki = new crypto.X509Certificate(readFileSync(CERT)).publicKey.export({ type: 'spki', format: 'der' });
const spkiHash = crypto.createHash('sha256').update(spki).digest('base64');

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [`--ignore-certificate-errors-spki-list=${spkiHash}`],
});
try {
  for (const p of PAGES) {
    await check(p);
    console.log(`ok: ${p.protocol} ${p.origin}`);
  }
} finally {
  await browser.close();
}

/**
 * Publishes one notification through Herald's API; returns its id.
 * @param {Page} p
 */
async function publish(p) {
  const res = await fetch(`${p.origin}${p.publish}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${p.publishKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'order.created', data: {} }),
  });
  const body = await res.text();
  assert.equal(res.status, 201, `publishing on ${p.origin}: ${body}`);
  return /** @type {number} */ (JSON.parse(body).id);
}

/**
 * @param {Page} p
 */
async function check(p) {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Any document of the origin will do: the streams are same-origin.
  await page.goto(`${p.origin}/healthz`);
  const protocol = await page.evaluate(
    () => /** @type {PerformanceNavigationTiming} */ (performance.getEntriesByType('navigation')[0]).nextHopProtocol,
  );
  assert.equal(protocol, p.protocol, `${p.origin}: expected the page over ${p.protocol}, got ${protocol}`);

  await page.evaluate(
    ({ stream, count }) => {
      /** @type {any} */ (window).streams = Array.from({ length: count }, () => {
        const s = { open: false, closed: false, ids: /** @type {number[]} */ ([]), es: new EventSource(stream) };
        s.es.onopen = () => {
          s.open = true;
        };
        s.es.onmessage = (e) => {
          s.ids.push(JSON.parse(e.data).id);
        };
        return s;
      });
    },
    { stream: p.stream, count: STREAMS },
  );

  /** Open and received counts, and which streams are open, as the page sees them. */
  const state = (/** @type {number} */ id) =>
    page.evaluate((id) => {
      const streams = /** @type {any[]} */ (/** @type {any} */ (window).streams);
      return {
        open: streams.filter((s) => s.open && !s.closed).length,
        received: streams.filter((s) => !s.closed && s.ids.includes(id)).length,
        openIndexes: streams.flatMap((s, i) => (s.open ? [i] : [])),
      };
    }, id);

  /**
   * Waits until `open` streams are open and `received` of them have `id`,
   * failing with what was expected and what the page had.
   * @param {{open: number, received: number, id: number, timeout?: number}} want
   */
  const until = async ({ open, received, id, timeout = WAIT }) => {
    try {
      await page.waitForFunction(
        ({ open, received, id }) => {
          const streams = /** @type {any[]} */ (/** @type {any} */ (window).streams).filter((s) => !s.closed);
          return streams.filter((s) => s.open).length >= open && streams.filter((s) => s.ids.includes(id)).length >= received;
        },
        { open, received, id },
        { timeout, polling: 50 },
      );
    } catch (e) {
      const got = await state(id);
      throw new Error(
        `${p.protocol} ${p.origin}: expected at least ${open} streams open and ${received} with notification ${id} ` +
          `within ${timeout} ms, got ${got.open} open and ${got.received} with it (${e})`,
      );
    }
  };

  if (p.protocol === 'h2') {
    await until({ open: STREAMS, received: 0, id: -1 });
    const id = await publish(p);
    await until({ open: STREAMS, received: STREAMS, id });
  } else {
    await until({ open: PER_ORIGIN, received: 0, id: -1 });
    const id = await publish(p);
    await until({ open: PER_ORIGIN, received: PER_ORIGIN, id });
    const atThatMoment = await state(id);
    assert.deepEqual(
      { open: atThatMoment.open, received: atThatMoment.received },
      { open: PER_ORIGIN, received: PER_ORIGIN },
      `${p.origin}: expected exactly ${PER_ORIGIN} of ${STREAMS} streams open and receiving over HTTP/1.1, the rest stalled`,
    );
    // Nothing more opens while the six stay open (a bounded wait: this is
    // what must not happen).
    let seventh = true;
    await page
      .waitForFunction(
        (n) => /** @type {any[]} */ (/** @type {any} */ (window).streams).filter((s) => s.open).length > n,
        PER_ORIGIN,
        { timeout: QUIET, polling: 50 },
      )
      .catch(() => {
        seventh = false;
      });
    const after = await state(id);
    assert.equal(seventh, false, `${p.origin}: expected the 7th to 12th stream to stay stalled while six are open, got ${after.open} open`);

    // Closing one frees its connection: a stalled stream opens then, so
    // they were queued by the browser, not refused by Herald.
    await page.evaluate(() => {
      const s = /** @type {any[]} */ (/** @type {any} */ (window).streams).find((s) => s.open);
      s.es.close();
      s.closed = true;
    });
    await until({ open: PER_ORIGIN, received: 0, id: -1 });
    const next = await publish(p);
    await until({ open: PER_ORIGIN, received: PER_ORIGIN, id: next });
    const opened = (await state(next)).openIndexes;
    assert.equal(opened.length, PER_ORIGIN + 1, `${p.origin}: expected a 7th stream to open once one closed, got ${opened.length} ever open`);
  }
  await context.close();
}
