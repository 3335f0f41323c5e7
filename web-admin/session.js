// @ts-check
/**
 * Who is signed in (kept in sessionStorage: it ends with the tab) and what
 * every screen receives.
 * @module session
 */

import { Api } from './api.js';

/**
 * @typedef {object} Session
 * @property {string} key The operator key or a tenant's admin API key.
 * @property {'operator' | 'tenant'} role
 * @property {string | null} tenant The key's tenant, for a tenant key.
 */

/**
 * What a screen gets.
 * @typedef {object} Ctx
 * @property {Api} api
 * @property {Session} session
 * @property {string[]} params The route's captures (a tenant id, a channel name, ...).
 * @property {URLSearchParams} query The part of the hash after `?`.
 * @property {HTMLElement} root Where the screen renders.
 * @property {AbortSignal} signal Aborted when the user leaves the screen.
 * @property {(title: string) => void} title Sets the heading and the document title.
 */

const KEY = 'herald-admin-session';

/** @returns {Session | null} */
export function loadSession() {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (typeof s?.key === 'string' && (s.role === 'operator' || s.role === 'tenant')) return s;
  } catch {
    // A damaged entry: sign in again.
  }
  return null;
}

/** @param {Session} s */
export function saveSession(s) {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** Goes to a route (a hash such as `#/tenants`). @param {string} hash */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** The route of one of a tenant's screens. @param {string} tenant @param {string} screen */
export const tenantRoute = (tenant, screen) => `#/t/${encodeURIComponent(tenant)}/${screen}`;

/** Tenant names the operator has seen, for the navigation. @type {Map<string, string>} */
export const tenantNames = new Map();
