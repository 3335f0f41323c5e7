// Browser tests of herald.js: Debian's Chromium (driven by playwright-core)
// loads a test page from its own origin and receives notifications from a
// real Herald on another origin. Needs HERALD_URL and HERALD_OPERATOR_KEY;
// the Rust end-to-end test `browser` starts a Herald and sets them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERALD_URL = process.env.HERALD_URL?.replace(/\/+$/, '');
const OPERATOR_KEY = process.env.HERALD_OPERATOR_KEY;
if (!HERALD_URL || !OPERATOR_KEY) {
  throw new Error(
    'HERALD_URL and HERALD_OPERATOR_KEY must be set: these tests run against a real Herald ' +
      '(`cargo test -p herald --test e2e browser` starts one and sets them)',
  );
}
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium)`);
}

const TEST_TIMEOUT = 120_000;
const WAIT = 30_000;

// ---- Herald's HTTP API ------------------------------------------------------

/**
 * @param {string} method
 * @param {string} path
 * @param {string} key
 * @param {unknown} [body]
 * @returns {Promise<{status: number, json: any}>}
 */
async function api(method, path, key, body) {
  const res = await fetch(`${HERALD_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Like `api`, but fails unless the answer is 2xx. */
async function ok(method, path, key, body) {
  const r = await api(method, path, key, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path} answered ${r.status}: ${JSON.stringify(r.json)}`);
  return r.json;
}

const b64url = (/** @type {Buffer | string} */ b) => Buffer.from(b).toString('base64url');

let tenants = 0;

/**
 * A fresh tenant with a publish key, an HS256 signing key and the `orders`
 * channel, whose allowed origins are `origins`.
 * @param {string[]} origins
 */
async function createTenant(origins) {
  const name = `browser-${process.pid}-${Date.now()}-${tenants++}`;
  const { id } = await ok('POST', '/v1/tenants', OPERATOR_KEY, { name });
  const sk = await ok('POST', `/v1/tenants/${id}/signing-keys`, OPERATOR_KEY, { alg: 'HS256' });
  const key = await ok('POST', `/v1/tenants/${id}/keys`, OPERATOR_KEY, { name: 'backend', scopes: ['publish'] });
  await ok('POST', `/v1/tenants/${id}/channels`, OPERATOR_KEY, { name: 'orders' });
  await ok('PUT', `/v1/tenants/${id}/allowed-origins`, OPERATOR_KEY, { origins });
  let published = 0;
  return {
    id,
    /**
     * A subscriber JWT for alice on `orders`, signed as the SaaS back end would.
     * @param {number} ttlSeconds
     */
    mint(ttlSeconds) {
      const header = { alg: 'HS256', typ: 'JWT', kid: sk.kid };
      const claims = { sub: 'alice', exp: Math.floor(Date.now() / 1000) + ttlSeconds, herald: { subscribe: ['orders'] } };
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
      const sig = crypto.createHmac('sha256', Buffer.from(sk.secret, 'utf8')).update(input).digest();
      return `${input}.${b64url(sig)}`;
    },
    /**
     * Publishes to `orders` with an arbitrary type; returns the id.
     * @param {string} [type]
     */
    async publish(type) {
      const n = published++;
      const t = type ?? TYPES[n % TYPES.length];
      const r = await ok('POST', `/v1/tenants/${id}/channels/orders/notifications`, key.secret, { type: t, data: { n } });
      assert.equal(typeof r.id, 'number', JSON.stringify(r));
      return /** @type {number} */ (r.id);
    },
  };
}

// Types the page cannot know in advance: the client must not need a listener per type.
const TYPES = ['order.created', 'order/paid', 'invoice:due', 'Shipment_2-late'];

/**
 * Publishes every `intervalMs` until stopped; `ids` lists what was published.
 * @param {Awaited<ReturnType<typeof createTenant>>} tenant
 * @param {number} intervalMs
 */
function publishInBackground(tenant, intervalMs) {
  /** @type {number[]} */
  const ids = [];
  let stopping = false;
  const done = (async () => {
    while (!stopping) {
      ids.push(await tenant.publish());
      await delay(intervalMs);
    }
  })();
  return {
    ids,
    async stop() {
      stopping = true;
      await done;
      return ids;
    },
  };
}

const delay = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

// ---- the page's servers -----------------------------------------------------

const here = (/** @type {string} */ p) => fileURLToPath(new URL(p, import.meta.url));
const FILES = {
  '/': { path: here('./page.html'), type: 'text/html; charset=utf-8' },
  '/herald.js': { path: here('../herald.js'), type: 'text/javascript; charset=utf-8' },
};

/** Serves the test page and the module on 127.0.0.1:<random>; resolves to its origin. */
async function pageServer() {
  const server = http.createServer(async (req, res) => {
    const file = FILES[/** @type {keyof typeof FILES} */ (new URL(req.url ?? '/', 'http://x').pathname)];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-store' }).end(await readFile(file.path));
  });
  return listen(server);
}

/**
 * A proxy to Herald that behaves like a buffering reverse proxy on streams:
 * it sends a stream's headers at once but holds its body back. Everything
 * else passes through.
 */
async function bufferingProxy() {
  const target = new URL(/** @type {string} */ (HERALD_URL));
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        const isStream = new URL(req.url ?? '/', 'http://x').pathname.endsWith('/stream');
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (isStream && up.statusCode === 200) {
          res.flushHeaders();
          /** @type {Buffer[]} */
          const held = [];
          up.on('data', (chunk) => held.push(chunk));
          up.on('end', () => res.end(Buffer.concat(held)));
        } else {
          up.pipe(res);
        }
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  return listen(server);
}

/** @param {http.Server} server */
function listen(server) {
  servers.push(server);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
      resolve(`http://127.0.0.1:${addr.port}`);
    });
  });
}

/** @type {http.Server[]} */
const servers = [];
/** @type {import('playwright-core').Browser} */
let browser;
/** The test page's origin, allowed by each test tenant. */
let allowedOrigin = '';
/** Another origin, allowed by none. */
let otherOrigin = '';

before(async () => {
  allowedOrigin = await pageServer();
  otherOrigin = await pageServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});

after(async () => {
  await browser?.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

// ---- driving the page -------------------------------------------------------

/**
 * Opens the test page on `origin` in a new browser context. Tokens are
 * minted here, in Node, when the page's token callback asks.
 * @param {string} origin
 * @param {Awaited<ReturnType<typeof createTenant>>} tenant
 */
async function openPage(origin, tenant) {
  const context = await browser.newContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const minted = [];
  /** @type {string[]} */
  const pageErrors = [];
  /** @type {string[]} */
  const console_ = [];
  /** @type {import('playwright-core').Request[]} */
  const requests = [];
  /** When each request was made (ms). */
  /** @type {Map<import('playwright-core').Request, number>} */
  const requestedAt = new Map();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(/** @type {string} */ (HERALD_URL))) return;
    requests.push(r);
    requestedAt.set(r, Date.now());
  });
  await page.exposeFunction('mintToken', (/** @type {number} */ ttl) => {
    const t = tenant.mint(ttl);
    minted.push(t);
    return t;
  });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => /** @type {any} */ (window).harnessReady === true);
  return {
    page,
    minted,
    pageErrors,
    requests,
    requestedAt,
    console: console_,
    /** @param {Record<string, unknown>} config */
    start: (config) =>
      page.evaluate((c) => /** @type {any} */ (window).harness.start(c), {
        url: HERALD_URL,
        tenant: tenant.id,
        channels: ['orders'],
        backoffBaseMs: 200,
        backoffMaxMs: 2000,
        ...config,
      }),
    /** @returns {Promise<{id: number, channel: string, type: string, data: any, transport: string | null}[]>} */
    received: () => page.evaluate(() => /** @type {any} */ (window).harness.log.received),
    /** @returns {Promise<{state: string, transport: string | null, reason: string | null, error: string | null}[]>} */
    statuses: () => page.evaluate(() => /** @type {any} */ (window).harness.log.statuses),
    /** @returns {Promise<{kind: string, status: number | null, type: string | null, message: string}[]>} */
    errors: () => page.evaluate(() => /** @type {any} */ (window).harness.log.errors),
    /** @returns {Promise<{state: string | null, transport: string | null, lastEventId: number | null, received: number, errors: number}>} */
    snapshot: () => page.evaluate(() => /** @type {any} */ (window).harness.snapshot()),
    /**
     * Waits until `predicate(snapshot)` holds in the page.
     * @param {string} what
     * @param {string} predicate the body of `(s) => …` over the snapshot
     * @param {number} [timeout]
     */
    async until(what, predicate, timeout = WAIT) {
      try {
        await page.waitForFunction(
          (body) => new Function('s', `return (${body});`)(/** @type {any} */ (window).harness.snapshot()),
          predicate,
          { timeout, polling: 50 },
        );
      } catch (e) {
        const state = await page.evaluate(() => {
          const h = /** @type {any} */ (window).harness;
          return { snapshot: h.snapshot(), statuses: h.log.statuses.slice(-10), errors: h.log.errors.slice(-5) };
        });
        throw new Error(`timed out waiting for ${what} (${predicate}): ${JSON.stringify(state)}\nconsole: ${console_.slice(-10).join('\n')}`);
      }
    },
    async close() {
      await page.evaluate(() => /** @type {any} */ (window).harness.stop()).catch(() => {});
      await context.close();
    },
  };
}

/**
 * Asserts the page received exactly `ids`, in order.
 * @param {{id: number}[]} received
 * @param {number[]} ids
 */
function assertExactly(received, ids) {
  const got = received.map((n) => n.id);
  const dups = got.filter((id, i) => got.indexOf(id) !== i);
  assert.deepEqual(dups, [], `duplicates: ${dups}`);
  const missing = ids.filter((id) => !got.includes(id));
  assert.deepEqual(missing, [], `missing: ${missing} (got ${got})`);
  assert.deepEqual(got, ids, 'received in publish order');
}

/** Fails the test if the page threw. */
function assertNoPageErrors(/** @type {{pageErrors: string[]}} */ p) {
  assert.deepEqual(p.pageErrors, [], 'uncaught errors in the page');
}

// ---- the cases --------------------------------------------------------------

test('SSE delivers cross-origin, in order, every type as it was published', { timeout: TEST_TIMEOUT }, async () => {
  const tenant = await createTenant([allowedOrigin]);
  const p = await openPage(allowedOrigin, tenant);
  try {
    await p.start({ transport: 'auto' });
    await p.until('an open stream', "s.state === 'open' && s.transport === 'sse'");

    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await tenant.publish());
    await p.until('6 notifications', 's.received >= 6');

    const got = await p.received();
    assertExactly(got, ids);
    assert.deepEqual(
      got.map((n) => n.type),
      ids.map((_, i) => TYPES[i % TYPES.length]),
    );
    assert.deepEqual(
      got.map((n) => n.data),
      ids.map((_, i) => ({ n: i })),
    );
    assert.ok(got.every((n) => n.channel === 'orders' && n.transport === 'sse'), JSON.stringify(got));
    assert.equal((await p.snapshot()).lastEventId, ids.at(-1));

    // The stream asked for unnamed frames and carried the token in the query.
    const streams = p.requests.filter((r) => new URL(r.url()).pathname.endsWith('/stream'));
    assert.equal(streams.length, 1, streams.map((r) => r.url()).join('\n'));
    const q = new URL(streams[0].url()).searchParams;
    assert.equal(q.get('events'), 'message');
    assert.ok(q.get('access_token'));
    assert.deepEqual(q.getAll('channel'), ['orders']);

    // Unread count and marking read, cross-origin with the bearer token.
    const before = await p.page.evaluate(() => /** @type {any} */ (window).harness.unreadCount());
    assert.deepEqual(before, { count: 6, capped: false });
    await p.page.evaluate((id) => /** @type {any} */ (window).harness.markRead({ ids: [id] }), ids[0]);
    assert.deepEqual(await p.page.evaluate(() => /** @type {any} */ (window).harness.unreadCount()), { count: 5, capped: false });
    await p.page.evaluate((id) => /** @type {any} */ (window).harness.markRead({ upTo: id }), ids[4]);
    assert.deepEqual(await p.page.evaluate(() => /** @type {any} */ (window).harness.unreadCount()), { count: 1, capped: false });

    assert.deepEqual(await p.errors(), []);
    assertNoPageErrors(p);
  } finally {
    await p.close();
  }
});

for (const failure of ['abort', '503']) {
  test(`a failing stream (${failure}) falls back to long-polling, then returns to SSE, with no gap and no duplicate`, { timeout: TEST_TIMEOUT }, async () => {
    const tenant = await createTenant([allowedOrigin]);
    const p = await openPage(allowedOrigin, tenant);
    let blocked = 0;
    const isStream = (/** @type {URL} */ url) => url.pathname.endsWith('/stream');
    /** @param {import('playwright-core').Route} route */
    const block = async (route) => {
      blocked++;
      if (failure === 'abort') await route.abort('connectionreset');
      else {
        await route.fulfill({
          status: 503,
          contentType: 'application/problem+json',
          headers: { 'Access-Control-Allow-Origin': allowedOrigin, 'Access-Control-Allow-Credentials': 'true' },
          body: JSON.stringify({ type: 'urn:herald:problem:unavailable', title: 'Shutting down', status: 503 }),
        });
      }
    };
    await p.page.route(isStream, block);
    try {
      await p.start({ transport: 'auto', sseRetryMs: 1500, pollWaitSeconds: 5 });
      // The client knows where "now" is before anything is published.
      await p.until('a starting position', 's.lastEventId !== null');
      const publisher = publishInBackground(tenant, 100);

      await p.until('long-polling', "s.state === 'open' && s.transport === 'poll'");
      assert.ok(blocked >= (failure === 'abort' ? 2 : 1), `stream attempts blocked: ${blocked}`);
      const atPoll = (await p.snapshot()).received;
      await p.until('delivery by polling', `s.received >= ${atPoll + 5}`);

      // Streams work again: the client goes back to SSE by itself.
      await p.page.unroute(isStream, block);
      await p.until('SSE again', "s.state === 'open' && s.transport === 'sse'");
      const atSse = (await p.snapshot()).received;
      await p.until('delivery over SSE', `s.received >= ${atSse + 5}`);

      const ids = await publisher.stop();
      await p.until(`all ${ids.length} notifications`, `s.received >= ${ids.length}`);
      const got = await p.received();
      assertExactly(got, ids);

      const transports = got.map((n) => n.transport);
      const firstSse = transports.indexOf('sse');
      assert.ok(transports.includes('poll'), 'some came by polling');
      assert.ok(firstSse > transports.indexOf('poll'), `polling came first: ${transports}`);
      assert.ok(transports.slice(firstSse).every((t) => t === 'sse'), `then SSE only: ${transports}`);

      const statuses = await p.statuses();
      assert.ok(statuses.some((s) => s.transport === 'poll' && s.reason === 'sse-failed'), JSON.stringify(statuses));
      assert.ok(statuses.some((s) => s.transport === 'sse' && s.reason === 'sse-restored'), JSON.stringify(statuses));
      // Polling stopped once the stream was open: SSE delivers more and no poll is made meanwhile.
      const polls = () => p.requests.filter((r) => new URL(r.url()).pathname.endsWith('/notifications')).length;
      const pollsAfter = polls();
      for (let i = 0; i < 3; i++) ids.push(await tenant.publish());
      await p.until(`all ${ids.length} notifications`, `s.received >= ${ids.length}`);
      assertExactly(await p.received(), ids);
      assert.equal(polls(), pollsAfter, 'no poll while the stream is open');
      assertNoPageErrors(p);
    } finally {
      await p.close();
    }
  });
}

test('a short-lived token is refreshed before it expires and delivery goes on over SSE', { timeout: TEST_TIMEOUT }, async () => {
  const tenant = await createTenant([allowedOrigin]);
  const p = await openPage(allowedOrigin, tenant);
  try {
    // Refreshed a fifth of its lifetime (1.4 to 1.6 s) before it expires.
    await p.start({ transport: 'auto', tokenTtl: 8 });
    await p.until('an open stream', "s.state === 'open' && s.transport === 'sse'");
    const publisher = publishInBackground(tenant, 150);
    // Three tokens: the first and two refreshes, i.e. about 13 seconds of streaming.
    const deadline = Date.now() + WAIT;
    while (p.minted.length < 3 && Date.now() < deadline) await delay(100);
    assert.ok(p.minted.length >= 3, `tokens minted: ${p.minted.length}`);
    const ids = await publisher.stop();
    await p.until(`all ${ids.length} notifications`, `s.received >= ${ids.length}`);
    assertExactly(await p.received(), ids);

    // Each new stream carried a new token and opened before the previous
    // token expired (not after Herald's token-expired), and the client never left SSE.
    const streams = p.requests.filter((r) => new URL(r.url()).pathname.endsWith('/stream'));
    const tokens = streams.map((r) => /** @type {string} */ (new URL(r.url()).searchParams.get('access_token')));
    assert.ok(tokens.length >= 3, `streams: ${tokens.length}`);
    assert.equal(new Set(tokens).size, tokens.length, 'one token per stream');
    for (let i = 1; i < streams.length; i++) {
      const exp = JSON.parse(Buffer.from(tokens[i - 1].split('.')[1], 'base64url').toString()).exp * 1000;
      const at = /** @type {number} */ (p.requestedAt.get(streams[i]));
      assert.ok(at < exp, `stream ${i} opened ${at - exp} ms after the previous token expired`);
    }
    const statuses = await p.statuses();
    assert.ok(statuses.every((s) => s.transport !== 'poll'), JSON.stringify(statuses));
    assert.deepEqual(await p.errors(), []);
    assertNoPageErrors(p);
  } finally {
    await p.close();
  }
});

test('an expired token (Herald sends token-expired) gets a new one and the stream resumes', { timeout: TEST_TIMEOUT }, async () => {
  const tenant = await createTenant([allowedOrigin]);
  const p = await openPage(allowedOrigin, tenant);
  try {
    // No proactive refresh: Herald ends each stream at the token's exp.
    await p.start({ transport: 'auto', tokenTtl: 3, refreshMarginMs: -600_000 });
    await p.until('an open stream', "s.state === 'open' && s.transport === 'sse'");
    const publisher = publishInBackground(tenant, 150);
    const deadline = Date.now() + WAIT;
    while (p.minted.length < 3 && Date.now() < deadline) await delay(100);
    assert.ok(p.minted.length >= 3, `tokens minted: ${p.minted.length}`);
    const ids = await publisher.stop();
    await p.until(`all ${ids.length} notifications`, `s.received >= ${ids.length}`);
    assertExactly(await p.received(), ids);
    const statuses = await p.statuses();
    assert.ok(statuses.every((s) => s.transport !== 'poll'), JSON.stringify(statuses));
    assertNoPageErrors(p);
  } finally {
    await p.close();
  }
});

test('cookie mode works cross-origin, over SSE and long-polling', { timeout: TEST_TIMEOUT }, async () => {
  const tenant = await createTenant([allowedOrigin]);
  const p = await openPage(allowedOrigin, tenant);
  try {
    await p.start({ transport: 'auto', credentials: 'cookie' });
    await p.until('an open stream', "s.state === 'open' && s.transport === 'sse'");
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await tenant.publish());
    await p.until('3 notifications', 's.received >= 3');
    assertExactly(await p.received(), ids);

    const session = p.requests.filter((r) => r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/session'));
    assert.equal(session.length, 1, 'one session per token');
    const stream = p.requests.filter((r) => new URL(r.url()).pathname.endsWith('/stream'));
    assert.ok(stream.length >= 1);
    assert.ok(stream.every((r) => !new URL(r.url()).searchParams.has('access_token')), 'no token in the stream URL');
    // HttpOnly: the page cannot read the cookie, although cookies ignore ports.
    assert.ok(!(await p.page.evaluate(() => document.cookie)).includes('herald_token'));

    // Long-polling with the cookie only.
    const last = (await p.snapshot()).lastEventId;
    await p.page.evaluate(() => /** @type {any} */ (window).harness.stop());
    await p.start({ transport: 'poll', credentials: 'cookie', lastEventId: last, pollWaitSeconds: 5 });
    await p.until('long-polling', "s.state === 'open' && s.transport === 'poll'");
    for (let i = 0; i < 3; i++) ids.push(await tenant.publish());
    await p.until('3 more notifications', 's.received >= 6');
    const got = await p.received();
    assertExactly(got, ids);
    assert.ok(got.slice(3).every((n) => n.transport === 'poll'));
    const polls = p.requests.filter((r) => new URL(r.url()).pathname.endsWith('/notifications'));
    assert.ok(polls.length >= 1);
    for (const r of polls) assert.equal(r.headers()['authorization'], undefined, 'no Authorization header in cookie mode');

    assert.deepEqual(await p.page.evaluate(() => /** @type {any} */ (window).harness.unreadCount()), { count: 6, capped: false });
    await p.page.evaluate((id) => /** @type {any} */ (window).harness.markRead({ upTo: id }), ids.at(-1));
    assert.deepEqual(await p.page.evaluate(() => /** @type {any} */ (window).harness.unreadCount()), { count: 0, capped: false });
    assertNoPageErrors(p);
  } finally {
    await p.close();
  }
});

test('a page on an origin that is not allowed gets no data', { timeout: TEST_TIMEOUT }, async () => {
  const tenant = await createTenant([allowedOrigin]);
  const p = await openPage(otherOrigin, tenant);
  try {
    await p.start({ transport: 'auto', sseRetryMs: 1000, pollWaitSeconds: 2 });
    // The stream fails, then polling fails, again and again.
    await p.until('failed polls', "s.transport === 'poll' && s.errors >= 4");
    for (let i = 0; i < 3; i++) await tenant.publish();
    // Several more attempts after publishing, all blocked.
    const errors = (await p.snapshot()).errors;
    await p.until('more failed attempts', `s.errors >= ${errors + 4}`);
    const snap = await p.snapshot();
    assert.equal(snap.received, 0);
    assert.notEqual(snap.state, 'open');
    const kinds = new Set((await p.errors()).map((e) => e.kind));
    assert.ok(kinds.has('network') && kinds.has('stream'), [...kinds].join());

    // The same requests made by hand fail too: the browser withholds the answers.
    const token = tenant.mint(60);
    const outcome = await p.page.evaluate(
      async ({ url, tenant, token }) => {
        const base = `${url}/v1/tenants/${tenant}`;
        const tryFetch = async (/** @type {string} */ u, /** @type {RequestInit} */ init) => {
          try {
            const r = await fetch(u, init);
            return `answered ${r.status}`;
          } catch (e) {
            return `blocked: ${e}`;
          }
        };
        const poll = await tryFetch(`${base}/notifications?channel=orders&after=0&wait=0`, { headers: { Authorization: `Bearer ${token}` } });
        const stream = await new Promise((resolve) => {
          const es = new EventSource(`${base}/stream?channel=orders&events=message&last_event_id=0&access_token=${token}`);
          es.onopen = () => resolve('opened');
          es.onmessage = () => resolve('got data');
          es.onerror = () => {
            es.close();
            resolve('blocked');
          };
        });
        return { poll, stream };
      },
      { url: HERALD_URL, tenant: tenant.id, token },
    );
    assert.match(outcome.poll, /^blocked: TypeError/);
    assert.equal(outcome.stream, 'blocked');
    assertNoPageErrors(p);
  } finally {
    await p.close();
  }
});

test('a stream held back by a buffering proxy is detected and the client switches to polling', { timeout: TEST_TIMEOUT }, async () => {
  const tenant = await createTenant([allowedOrigin]);
  const proxy = await bufferingProxy();
  const p = await openPage(allowedOrigin, tenant);
  try {
    await p.start({ url: proxy, transport: 'auto', bufferProbeMs: 1000, sseRetryMs: 1000, pollWaitSeconds: 5 });
    // Headers came through, so the stream looks open; its events never do.
    await p.until('an open stream', "s.state === 'open' && s.transport === 'sse'");
    const publisher = publishInBackground(tenant, 200);
    await p.until('the switch to polling', "s.state === 'open' && s.transport === 'poll'");
    const atPoll = (await p.snapshot()).received;
    await p.until('delivery by polling', `s.received >= ${atPoll + 5}`);
    const ids = await publisher.stop();
    await p.until(`all ${ids.length} notifications`, `s.received >= ${ids.length}`);
    const got = await p.received();
    assertExactly(got, ids);
    assert.ok(got.every((n) => n.transport === 'poll'), 'none came through the held stream');

    const statuses = await p.statuses();
    assert.ok(statuses.some((s) => s.transport === 'poll' && s.reason === 'sse-buffered'), JSON.stringify(statuses));
    // It stays on polling: SSE through this proxy would hold events back again.
    assert.equal((await p.snapshot()).transport, 'poll');
    assert.ok(!statuses.some((s) => s.reason === 'sse-restored'), JSON.stringify(statuses));
    assertNoPageErrors(p);
  } finally {
    await p.close();
  }
});
