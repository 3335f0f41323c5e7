// Unit tests of herald.js's pure parts; the behaviour is tested in a real
// browser against a real Herald in browser.test.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldClient, HeraldError, tokenExpiry } from '../herald.js';

const jwt = (/** @type {unknown} */ claims) =>
  `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('tokenExpiry reads exp from a base64url payload, without verifying it', () => {
  assert.equal(tokenExpiry(jwt({ sub: 'é?>>', exp: 1767225600 })), 1767225600);
  assert.equal(tokenExpiry(jwt({ sub: 'alice' })), null);
  assert.equal(tokenExpiry(jwt({ exp: '1767225600' })), null);
  assert.equal(tokenExpiry('not a token'), null);
  assert.equal(tokenExpiry('a.!!!.c'), null);
});

test('only failures that may go away are retried', () => {
  assert.equal(new HeraldError('x', { kind: 'network' }).retryable, true);
  assert.equal(new HeraldError('x', { kind: 'stream' }).retryable, true);
  for (const status of [401, 408, 429, 500, 503]) assert.equal(new HeraldError('x', { status }).retryable, true, `${status}`);
  for (const status of [400, 403, 404, 422]) assert.equal(new HeraldError('x', { status }).retryable, false, `${status}`);
});

test('the constructor refuses incomplete options', () => {
  const ok = { url: 'http://h/', tenant: 'ten_1', channels: ['orders'], token: () => 't' };
  const client = new HeraldClient(ok);
  assert.equal(client.state, 'stopped');
  assert.equal(client.transport, null);
  assert.equal(client.lastEventId, null);
  assert.equal(new HeraldClient({ ...ok, lastEventId: 0 }).lastEventId, 0);
  for (const bad of [{ url: '' }, { tenant: '' }, { channels: [] }, { token: 'jwt' }, { transport: 'ws' }, { credentials: 'basic' }]) {
    assert.throws(() => new HeraldClient(/** @type {any} */ ({ ...ok, ...bad })), TypeError, JSON.stringify(bad));
  }
});
