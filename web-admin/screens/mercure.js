// @ts-check
/**
 * A tenant's Mercure hub (issue 21): the key its access tokens are verified
 * with, the trusted issuer and the hub's audience, anonymous subscribers,
 * CORS origins and 0.x compatibility. An HS256 secret is never shown
 * again: leaving the key empty keeps the current one.
 */

import { Api, ApiError } from '../api.js';
import { h, field, attempt, outlet, section, select, errorBox } from '../components/dom.js';

/** @param {import('../session.js').Ctx} ctx */
export default async function mercure(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Mercure hub');
  const { api } = ctx;
  const path = Api.t(tenant, '/mercure');
  const out = outlet();
  const status = h('div', { id: 'mercure-status' });

  /** @type {import('../api.js').MercureSettings | null} */
  let current = null;
  try {
    current = await api.get(path, undefined, ctx.signal);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      ctx.root.append(errorBox(e));
      return;
    }
  }

  const alg = select('jwt_alg', ['HS256', 'RS256', 'ES256', 'EdDSA'], current?.jwt_alg ?? 'HS256');
  const key = h('textarea', { name: 'jwt_key', rows: 4, class: 'mono', autocomplete: 'off', value: current?.public_key ?? '' });
  const issuer = h('input', { type: 'text', name: 'issuer', required: true, value: current?.issuer ?? '', placeholder: 'https://example.com' });
  const audience = h('input', { type: 'text', name: 'audience', required: true, value: current?.audience ?? '', placeholder: 'https://hub.example.com/.well-known/mercure' });
  const anonymous = h('input', { type: 'checkbox', name: 'anonymous', checked: Boolean(current?.anonymous) });
  const origins = h('textarea', { name: 'cors_origins', rows: 3, class: 'mono', value: (current?.cors_origins ?? []).join('\n'), placeholder: 'https://app.example.com' });
  const compat = h('input', { type: 'checkbox', name: 'compat_0x', checked: Boolean(current?.compat_0x) });
  const save = h('button', { type: 'submit', text: 'Save hub settings' });
  const keyHint = () =>
    alg.value === 'HS256'
      ? current?.jwt_alg === 'HS256'
        ? 'The HS256 secret (32 to 512 bytes). It is never shown again: leave this empty to keep the current one.'
        : 'The HS256 secret (32 to 512 bytes), shared with the app that signs the tokens. It is never shown again.'
      : 'The public key in PEM (-----BEGIN PUBLIC KEY-----).';
  const keyField = field('Key', key, keyHint());
  alg.addEventListener('change', () => keyField.querySelector('small')?.replaceChildren(keyHint()));

  const form = h(
    'form',
    { class: 'grid-form', id: 'mercure-form' },
    field('Algorithm', alg, 'Tokens signed with any other algorithm are refused.'),
    keyField,
    field('Issuer', issuer, 'A token’s iss must equal it.'),
    field('Audience', audience, 'The hub’s resource identifier: a token’s aud must include it.'),
    field('Anonymous subscribers', anonymous, 'Serve subscribers without a token (public updates only).'),
    field('CORS origins', origins, 'One per line: browser origins allowed to subscribe and publish across origins.'),
    field('Mercure 0.x clients', compat, 'Also accept topic= with URI templates, the mercure claim, the authorization parameter and the mercureAuthorization cookie.'),
    h('div', { class: 'actions' }, save),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    /** @type {Record<string, unknown>} */
    const body = {
      jwt_alg: alg.value,
      issuer: issuer.value.trim(),
      audience: audience.value.trim(),
      anonymous: anonymous.checked,
      cors_origins: origins.value.split('\n').map((o) => o.trim()).filter(Boolean),
      compat_0x: compat.checked,
    };
    // An empty key keeps the current one (Herald says so if there is none).
    if (key.value.trim()) body.jwt_key = key.value;
    /** @type {import('../api.js').MercureSettings | undefined} */
    const r = await attempt(out, () => api.put(path, body), { button: save, done: 'Saved the hub settings.' });
    if (!r) return;
    current = r;
    if (r.jwt_alg === 'HS256') key.value = '';
    origins.value = r.cors_origins.join('\n');
    keyField.querySelector('small')?.replaceChildren(keyHint());
    drawStatus();
  });

  function drawStatus() {
    if (!current) {
      status.replaceChildren(h('p', { class: 'muted', id: 'mercure-none', text: 'No Mercure hub set up yet: save the settings below to start one.' }));
      return;
    }
    const url = new URL(current.hub_path, location.origin).href;
    status.replaceChildren(
      h('p', {}, 'The hub: ', h('code', { id: 'mercure-hub-url', text: url })),
      h('p', { class: 'muted', text: 'Publishers POST updates there and subscribers open it with EventSource; Herald’s own streams, polling, email and plugins see the same updates.' }),
    );
  }

  drawStatus();
  ctx.root.append(section('Hub', status), section('Settings', form), out);
}
