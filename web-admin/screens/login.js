// @ts-check
/**
 * Sign-in with the operator key or a tenant's admin key. `GET /v1/whoami`
 * says which it is and, for an API key, its tenant and scopes.
 */

import { Api, ApiError } from '../api.js';
import { h, field, errorBox } from '../components/dom.js';
import { saveSession, go, tenantRoute } from '../session.js';

/**
 * @typedef {object} WhoAmI
 * @property {'operator' | 'api_key'} kind
 * @property {string | null} tenant
 * @property {string | null} key_id
 * @property {string[]} scopes
 */

/** @param {import('../session.js').Ctx} ctx */
export default function login(ctx) {
  ctx.title('Sign in');
  const key = h('input', { type: 'password', name: 'key', required: true, autocomplete: 'off', spellcheck: false, class: 'mono' });
  const out = h('div', { class: 'outlet', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', text: 'Sign in' });
  const form = h(
    'form',
    { class: 'card login', novalidate: true },
    h('p', { text: 'Use the operator key (hop_…) or an API key with the admin scope (hk_…). The key stays in this tab only, and logging out forgets it.' }),
    field('API key', key),
    h('div', { class: 'actions' }, submit),
    out,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const k = key.value.trim();
    if (!k) {
      out.append(errorBox(new Error('Enter a key.')));
      key.focus();
      return;
    }
    submit.disabled = true;
    try {
      const me = /** @type {WhoAmI} */ (await new Api(k).get('/v1/whoami'));
      if (me.kind === 'operator') {
        saveSession({ key: k, role: 'operator', tenant: null });
        go('#/tenants');
        return;
      }
      if (!me.tenant || !me.scopes.includes('admin')) {
        throw new ApiError({
          status: 403,
          type: 'urn:herald:problem:forbidden',
          title: 'This key cannot administer its tenant',
          detail: `It is a key of ${me.tenant ?? 'a tenant'} with the ${me.scopes.join(', ') || 'no'} scope; the console needs the admin scope.`,
        });
      }
      saveSession({ key: k, role: 'tenant', tenant: me.tenant });
      go(tenantRoute(me.tenant, 'dashboard'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        out.append(errorBox(new ApiError({ ...e, status: 401, type: e.type, title: 'Unknown key', detail: 'Herald does not know this key: check it, or ask for a new one.' })));
      } else {
        out.append(errorBox(e));
      }
      key.focus();
    } finally {
      submit.disabled = false;
    }
  });
  ctx.root.append(form);
  key.focus();
}
