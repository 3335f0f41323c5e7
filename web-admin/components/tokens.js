// @ts-check
/**
 * Subscriber tokens for the live tail, minted by Herald
 * (`POST /v1/tenants/{tenant}/tokens`) with the tenant's newest HS256
 * signing key: the console never holds a signing secret.
 * @module tokens
 */

import { Api } from '../api.js';

/**
 * @typedef {object} TokenRequest
 * @property {string} sub
 * @property {string[]} subscribe
 * @property {number} ttlSeconds
 */

/**
 * Asks Herald for a subscriber token.
 * @param {Api} api
 * @param {string} tenant
 * @param {TokenRequest} req
 * @returns {Promise<string>}
 */
export async function mintWithHerald(api, tenant, req) {
  const r = await api.post(Api.t(tenant, '/tokens'), { sub: req.sub, subscribe: req.subscribe, ttl_seconds: req.ttlSeconds });
  return /** @type {{token: string}} */ (r).token;
}
