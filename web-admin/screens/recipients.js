// @ts-check
/** A tenant's email recipients and their preferences: list (paged), create or edit, delete. */

import { Api, seg } from '../api.js';
import { h, field, attempt, outlet, section, table, time, button, errorBox, select } from '../components/dom.js';
import { Pager } from '../components/pager.js';
import { confirmDialog } from '../components/dialog.js';

/** @typedef {import('../api.js').Recipient} Recipient */

/** @param {import('../session.js').Ctx} ctx */
export default async function recipients(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Recipients');
  const { api } = ctx;
  const out = outlet();
  const list = h('div');
  const pager = new Pager(() => void load());

  const user = h('input', { type: 'text', name: 'user', required: true, autocomplete: 'off', placeholder: '42' });
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off', placeholder: 'ada@example.com' });
  const locale = h('input', { type: 'text', name: 'locale', autocomplete: 'off', placeholder: 'en-GB' });
  const mode = select('channels', [['all', 'All channels'], ['none', 'No email'], ['list', 'Only these channels']], 'all');
  const only = h('input', { type: 'text', name: 'only', autocomplete: 'off', placeholder: 'orders user.42.*', disabled: true });
  mode.addEventListener('change', () => (only.disabled = mode.value !== 'list'));
  const unsub = h('input', { type: 'text', name: 'unsubscribed', autocomplete: 'off', placeholder: 'none' });
  const keepPrefs = h('input', { type: 'checkbox', name: 'keep', checked: false });
  const save = h('button', { type: 'submit', text: 'Save recipient' });
  const form = h(
    'form',
    { class: 'stack' },
    h('div', { class: 'grid-form' }, field('User id (token sub)', user), field('Email address', email), field('Locale', locale)),
    h(
      'fieldset',
      null,
      h('legend', { text: 'Email preferences' }),
      h('div', { class: 'grid-form' }, field('Email for', mode), field('Channels and patterns (space-separated)', only), field('Unsubscribed channels (space-separated)', unsub)),
      field('Keep the stored preferences (update the address only)', keepPrefs),
    ),
    h('div', { class: 'actions' }, save),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const r = await attempt(
      out,
      () => {
        /** @type {Record<string, unknown>} */
        const body = { email: email.value.trim() };
        if (locale.value.trim()) body.locale = locale.value.trim();
        if (!keepPrefs.checked) {
          const words = (/** @type {string} */ s) => s.split(/[\s,]+/).filter(Boolean);
          body.preferences = { email: { channels: mode.value === 'list' ? words(only.value) : mode.value, unsubscribed: words(unsub.value) } };
        }
        return api.put(Api.t(tenant, `/recipients/${seg(user.value.trim())}`), body);
      },
      { button: save, done: (/** @type {Recipient} */ r) => `Saved recipient ${r.user}.` },
    );
    if (r) await load();
  });

  /** @param {Recipient} r */
  function edit(r) {
    user.value = r.user;
    email.value = r.email;
    locale.value = r.locale ?? '';
    const ch = r.preferences.email.channels;
    mode.value = Array.isArray(ch) ? 'list' : ch;
    only.value = Array.isArray(ch) ? ch.join(' ') : '';
    only.disabled = !Array.isArray(ch);
    unsub.value = r.preferences.email.unsubscribed.join(' ');
    keepPrefs.checked = false;
    user.focus();
  }

  async function load() {
    try {
      const page = await api.page(Api.t(tenant, '/recipients'), { limit: 50, after: pager.after });
      pager.next = page.next;
      /** @type {Recipient[]} */
      const items = page.items;
      list.replaceChildren(
        table(
          'Recipients',
          ['User', 'Email', 'Locale', 'Email for', 'Unsubscribed', 'Updated', 'Actions'],
          items.map((r) => {
            const ch = r.preferences.email.channels;
            return [
              h('code', { text: r.user }),
              r.email,
              r.locale ?? '—',
              Array.isArray(ch) ? ch.join(', ') : ch,
              r.preferences.email.unsubscribed.join(', ') || '—',
              time(r.updated_at),
              h('div', { class: 'row-actions' }, button('Edit', () => edit(r), 'secondary'), button('Delete', () => void remove(r), 'danger')),
            ];
          }),
          'No recipients: nobody gets email.',
        ),
        pager.controls('recipients'),
      );
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  }

  /** @param {Recipient} r */
  async function remove(r) {
    if (!(await confirmDialog(`Delete recipient ${r.user}?`, 'Emails waiting for them are cancelled.', 'Delete recipient'))) return;
    if (await attempt(out, () => api.del(Api.t(tenant, `/recipients/${seg(r.user)}`)).then(() => true), { done: `Deleted ${r.user}.` })) await load();
  }

  ctx.root.append(section('Create or update a recipient', form), out, section('Recipients', list));
  await load();
}
