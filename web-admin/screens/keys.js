// @ts-check
/** A tenant's API keys and signing keys: create (the secret shown once), list, revoke. */

import { Api, seg } from '../api.js';
import { h, field, attempt, outlet, section, table, time, button, errorBox, select } from '../components/dom.js';
import { confirmDialog, secretDialog } from '../components/dialog.js';

/** @typedef {import('../api.js').ApiKey} ApiKey */
/** @typedef {import('../api.js').SigningKey} SigningKey */

/** @param {import('../session.js').Ctx} ctx */
export default async function keys(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Keys');
  const { api } = ctx;

  // ---- API keys ----
  const keyOut = outlet();
  const keyList = h('div');
  const keyName = h('input', { type: 'text', name: 'name', required: true, maxLength: 64, autocomplete: 'off', placeholder: 'backend' });
  const scopePublish = h('input', { type: 'checkbox', name: 'publish', checked: true });
  const scopeAdmin = h('input', { type: 'checkbox', name: 'admin' });
  const createKey = h('button', { type: 'submit', text: 'Create API key' });
  const keyForm = h(
    'form',
    { class: 'inline-form' },
    field('Key name', keyName),
    h('fieldset', { class: 'scopes' }, h('legend', { text: 'Scopes' }), field('publish', scopePublish), field('admin (implies publish)', scopeAdmin)),
    createKey,
  );
  keyForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const scopes = [scopePublish.checked && 'publish', scopeAdmin.checked && 'admin'].filter((s) => typeof s === 'string');
    /** @type {ApiKey | undefined} */
    const k = await attempt(keyOut, () => api.post(Api.t(tenant, '/keys'), { name: keyName.value.trim(), scopes }), {
      button: createKey,
      done: (/** @type {ApiKey} */ k) => `Created API key ${k.name} (${k.id}).`,
    });
    if (k) {
      keyName.value = '';
      await loadKeys();
      await secretDialog(`API key ${k.name}`, k.secret ?? '', 'API key secret');
    }
  });

  async function loadKeys() {
    try {
      /** @type {ApiKey[]} */
      const items = await api.all(Api.t(tenant, '/keys'));
      keyList.replaceChildren(
        table(
          'API keys',
          ['Name', 'Id', 'Scopes', 'Created', 'Actions'],
          items.map((k) => [k.name, h('code', { text: k.id }), k.scopes.join(', '), time(k.created_at), button('Revoke', () => void revokeKey(k), 'danger')]),
          'No API keys.',
        ),
      );
    } catch (e) {
      keyList.replaceChildren(errorBox(e));
    }
  }

  /** @param {ApiKey} k */
  async function revokeKey(k) {
    const self = ctx.session.role === 'tenant';
    const warn = self ? ' If it is the key you signed in with, this console stops working.' : '';
    if (!(await confirmDialog(`Revoke API key ${k.name}?`, `Requests with ${k.id} fail from the next one on.${warn}`, 'Revoke key'))) return;
    if (await attempt(keyOut, () => api.del(Api.t(tenant, `/keys/${seg(k.id)}`)).then(() => true), { done: `Revoked ${k.name}.` })) await loadKeys();
  }

  // ---- signing keys ----
  const skOut = outlet();
  const skList = h('div');
  const alg = select('alg', ['HS256', 'RS256', 'ES256', 'EdDSA'], 'HS256');
  const pem = h('textarea', { name: 'public_key', rows: 4, class: 'mono', placeholder: '-----BEGIN PUBLIC KEY-----', disabled: true });
  alg.addEventListener('change', () => (pem.disabled = alg.value === 'HS256'));
  const createSk = h('button', { type: 'submit', text: 'Create signing key' });
  const skForm = h(
    'form',
    { class: 'inline-form' },
    field('Algorithm', alg, 'HS256: Herald generates the secret. Others: upload your public key.'),
    field('Public key (PEM)', pem),
    createSk,
  );
  skForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    /** @type {Record<string, string>} */
    const body = { alg: alg.value };
    if (alg.value !== 'HS256') body.public_key = pem.value;
    /** @type {SigningKey | undefined} */
    const k = await attempt(skOut, () => api.post(Api.t(tenant, '/signing-keys'), body), { button: createSk, done: (/** @type {SigningKey} */ k) => `Created signing key ${k.kid}.` });
    if (k) {
      await loadSks();
      if (k.secret) {
        await secretDialog(`Signing key ${k.kid}`, k.secret, 'HS256 signing secret');
      }
    }
  });

  async function loadSks() {
    try {
      /** @type {SigningKey[]} */
      const items = await api.all(Api.t(tenant, '/signing-keys'));
      skList.replaceChildren(
        table(
          'Signing keys',
          ['Kid', 'Algorithm', 'Created', 'Actions'],
          items.map((k) => [h('code', { text: k.kid }), k.alg, time(k.created_at), button('Delete', () => void removeSk(k), 'danger')]),
          'No signing keys: subscribers cannot connect until there is one.',
        ),
      );
    } catch (e) {
      skList.replaceChildren(errorBox(e));
    }
  }

  /** @param {SigningKey} k */
  async function removeSk(k) {
    if (!(await confirmDialog(`Delete signing key ${k.kid}?`, 'New streams with its tokens are refused; open streams run until their tokens expire.', 'Delete key'))) return;
    if (await attempt(skOut, () => api.del(Api.t(tenant, `/signing-keys/${seg(k.kid)}`)).then(() => true), { done: `Deleted ${k.kid}.` })) await loadSks();
  }

  ctx.root.append(
    section('API keys', h('p', { class: 'muted', text: 'Back ends publish with these; admin keys can also manage the tenant.' }), keyForm, keyOut, keyList),
    section('Signing keys', h('p', { class: 'muted', text: 'These verify subscriber tokens (JWT); the kid goes in the token header.' }), skForm, skOut, skList),
  );
  await Promise.all([loadKeys(), loadSks()]);
}
