// @ts-check
/**
 * The Herald admin console: hash routing, the page frame (top bar,
 * navigation, theme), and the screens in `screens/`.
 * @module app
 */

import { Api } from './api.js';
import { h, replace, errorBox } from './components/dom.js';
import { loadSession, clearSession, go, tenantRoute, tenantNames } from './session.js';

/** @typedef {import('./session.js').Ctx} Ctx */
/** @typedef {(ctx: Ctx) => void | Promise<void>} Screen */

/**
 * Routes, first match wins. `who` says which sign-in may open it.
 * @type {{re: RegExp, who: 'any' | 'operator' | 'signed-in', load: () => Promise<{default: Screen}>}[]}
 */
const ROUTES = [
  { re: /^\/login$/, who: 'any', load: () => import('./screens/login.js') },
  { re: /^\/tenants$/, who: 'operator', load: () => import('./screens/tenants.js') },
  { re: /^\/stats$/, who: 'operator', load: () => import('./screens/stats.js') },
  { re: /^\/t\/([^/]+)\/dashboard$/, who: 'signed-in', load: () => import('./screens/dashboard.js') },
  { re: /^\/t\/([^/]+)\/channels$/, who: 'signed-in', load: () => import('./screens/channels.js') },
  { re: /^\/t\/([^/]+)\/channels\/([^/]+)$/, who: 'signed-in', load: () => import('./screens/channel.js') },
  { re: /^\/t\/([^/]+)\/keys$/, who: 'signed-in', load: () => import('./screens/keys.js') },
  { re: /^\/t\/([^/]+)\/plugins$/, who: 'signed-in', load: () => import('./screens/plugins.js') },
  { re: /^\/t\/([^/]+)\/recipients$/, who: 'signed-in', load: () => import('./screens/recipients.js') },
  { re: /^\/t\/([^/]+)\/history$/, who: 'signed-in', load: () => import('./screens/history.js') },
  { re: /^\/t\/([^/]+)\/history\/([^/]+)\/(\d+)$/, who: 'signed-in', load: () => import('./screens/timeline.js') },
  { re: /^\/t\/([^/]+)\/tail$/, who: 'signed-in', load: () => import('./screens/tail.js') },
  { re: /^\/t\/([^/]+)\/quotas$/, who: 'signed-in', load: () => import('./screens/quotas.js') },
  { re: /^\/t\/([^/]+)\/origins$/, who: 'signed-in', load: () => import('./screens/origins.js') },
  { re: /^\/t\/([^/]+)\/mercure$/, who: 'signed-in', load: () => import('./screens/mercure.js') },
];

/** Tenant screens, in navigation order. */
const TENANT_NAV = [
  ['dashboard', 'Dashboard'],
  ['channels', 'Channels'],
  ['history', 'History'],
  ['tail', 'Live tail'],
  ['keys', 'Keys'],
  ['plugins', 'Plugins'],
  ['recipients', 'Recipients'],
  ['origins', 'Allowed origins'],
  ['mercure', 'Mercure hub'],
  ['quotas', 'Quotas'],
];

/** @type {AbortController | null} */
let current = null;

// ---- theme -------------------------------------------------------------------

const THEME_KEY = 'herald-admin-theme';
const dark = matchMedia('(prefers-color-scheme: dark)');

/** @returns {'light' | 'dark'} */
function effectiveTheme() {
  const chosen = localStorage.getItem(THEME_KEY);
  if (chosen === 'light' || chosen === 'dark') return chosen;
  return dark.matches ? 'dark' : 'light';
}

function applyTheme() {
  const t = effectiveTheme();
  document.documentElement.dataset.theme = t;
  const btn = document.getElementById('theme-toggle');
  if (btn) {
    btn.textContent = t === 'dark' ? 'Light theme' : 'Dark theme';
    btn.setAttribute('aria-label', `Switch to the ${t === 'dark' ? 'light' : 'dark'} theme`);
  }
}

function toggleTheme() {
  localStorage.setItem(THEME_KEY, effectiveTheme() === 'dark' ? 'light' : 'dark');
  applyTheme();
}

dark.addEventListener('change', applyTheme);

// ---- frame -------------------------------------------------------------------

/**
 * Draws the frame for the current sign-in and route.
 * @param {import('./session.js').Session | null} session
 * @param {string | null} tenant the tenant of the route, if any
 * @param {string} path
 */
function frame(session, tenant, path) {
  const app = /** @type {HTMLElement} */ (document.getElementById('app'));
  const themeBtn = h('button', { type: 'button', id: 'theme-toggle', class: 'secondary', onclick: toggleTheme });
  const top = h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'skip', href: '#main', text: 'Skip to content', onclick: (/** @type {Event} */ e) => (e.preventDefault(), document.getElementById('main')?.focus()) }),
    h('a', { class: 'brand', href: session ? homeRoute(session) : '#/login', text: 'Herald admin' }),
    session ? h('span', { class: 'who', text: session.role === 'operator' ? 'Operator' : `Tenant admin · ${session.tenant}` }) : null,
    h('span', { class: 'spacer' }),
    themeBtn,
    session ? h('button', { type: 'button', class: 'secondary', id: 'logout', text: 'Log out', onclick: logout }) : null,
  );
  /** @type {HTMLElement | null} */
  let nav = null;
  if (session) {
    /** @type {HTMLElement[]} */
    const groups = [];
    const item = (/** @type {string} */ href, /** @type {string} */ text) =>
      h('li', null, h('a', { href, text, 'aria-current': `#${path}` === href || `#${path}`.startsWith(`${href}/`) || `#${path}`.startsWith(`${href}?`) ? 'page' : undefined }));
    if (session.role === 'operator') {
      groups.push(h('h2', { text: 'Server' }), h('ul', null, item('#/tenants', 'Tenants'), item('#/stats', 'Server stats')));
    }
    if (tenant) {
      const name = session.role === 'operator' ? (tenantNames.get(tenant) ?? tenant) : tenant;
      groups.push(
        h('h2', { text: name, title: tenant, class: 'tenant-name' }),
        h('ul', null, TENANT_NAV.map(([s, label]) => item(tenantRoute(tenant, s), label))),
      );
    }
    nav = h('nav', { class: 'sidebar', 'aria-label': 'Main' }, groups);
  }
  const main = h('main', { id: 'main', tabindex: '-1' }, h('h1', { id: 'title' }), h('div', { id: 'screen' }));
  replace(app, top, h('div', { class: session ? 'layout' : 'layout bare' }, nav, main));
  applyTheme();
  return main;
}

/** @param {import('./session.js').Session} s */
function homeRoute(s) {
  return s.role === 'operator' ? '#/tenants' : tenantRoute(/** @type {string} */ (s.tenant), 'dashboard');
}

function logout() {
  clearSession();
  current?.abort();
  go('#/login');
}

// ---- routing -----------------------------------------------------------------

async function route() {
  const session = loadSession();
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?', 2);
  if (!session && path !== '/login') return go('#/login');
  if (session && (path === '/' || path === '/login')) return go(homeRoute(session));
  const tenantOnly = path.match(/^\/t\/([^/]+)$/);
  if (tenantOnly) return go(`#${path}/dashboard`);

  const r = ROUTES.find((r) => r.re.test(path));
  current?.abort();
  const ctl = new AbortController();
  current = ctl;
  const params = r ? /** @type {RegExpMatchArray} */ (path.match(r.re)).slice(1).map(decodeURIComponent) : [];
  let tenant = path.startsWith('/t/') ? (params[0] ?? null) : null;

  // A tenant key sees only its own tenant and no operator screens.
  if (session?.role === 'tenant' && ((tenant && tenant !== session.tenant) || r?.who === 'operator')) {
    return go(homeRoute(session));
  }
  if (session?.role === 'operator' && tenant && !tenantNames.has(tenant)) {
    new Api(session.key)
      .get(Api.t(tenant))
      .then((/** @type {import('./api.js').Tenant} */ t) => {
        tenantNames.set(tenant, t.name);
        const el = document.querySelector('.tenant-name');
        if (el && current === ctl) el.textContent = t.name;
      })
      .catch(() => {});
  }

  const main = frame(session, tenant, path);
  const titleEl = /** @type {HTMLElement} */ (main.querySelector('#title'));
  const root = /** @type {HTMLElement} */ (main.querySelector('#screen'));
  // Which screen this is, and (below) when it has rendered: for assistive
  // tooling and tests, which must not act on the screen being replaced.
  root.dataset.path = path;
  /** @param {string} t */
  const title = (t) => {
    titleEl.textContent = t;
    document.title = `${t} · Herald admin`;
  };
  if (!r) {
    title('Not found');
    root.append(h('p', { text: 'There is no such page. ' }, h('a', { href: session ? homeRoute(session) : '#/login', text: 'Go home' })));
    return;
  }
  const ctx = {
    api: new Api(session?.key ?? ''),
    session: /** @type {import('./session.js').Session} */ (session),
    params,
    query: new URLSearchParams(qs),
    root,
    signal: ctl.signal,
    title,
  };
  try {
    const mod = await r.load();
    if (ctl.signal.aborted) return;
    await mod.default(ctx);
  } catch (e) {
    if (ctl.signal.aborted || (e instanceof DOMException && e.name === 'AbortError')) return;
    root.append(errorBox(e));
  }
  if (!ctl.signal.aborted) root.dataset.ready = 'true';
  if (!ctl.signal.aborted && document.activeElement === document.body) main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => void route());
applyTheme();
void route();
