// @ts-check
/** A tenant's channels: list (paged), create with retention, and links to edit, history and delete. */

import { Api, seg } from '../api.js';
import { h, field, attempt, outlet, section, table, time, link, button, errorBox, optInt } from '../components/dom.js';
import { Pager } from '../components/pager.js';
import { confirmDialog } from '../components/dialog.js';
import { tenantRoute } from '../session.js';

/** @typedef {import('../api.js').Channel} Channel */

/** @param {Channel['retention']} r */
export function retentionText(r) {
  const parts = [];
  if (r.max_count != null) parts.push(`${r.max_count} notifications`);
  if (r.max_age_seconds != null) parts.push(`${r.max_age_seconds} s`);
  return parts.length ? parts.join(', ') : 'server default';
}

/** @param {import('../session.js').Ctx} ctx */
export default async function channels(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Channels');
  const { api } = ctx;
  const out = outlet();
  const list = h('div');
  const pager = new Pager(() => void load());

  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', placeholder: 'orders' });
  const maxCount = h('input', { type: 'number', name: 'max_count', min: '1', step: '1', placeholder: 'server default' });
  const maxAge = h('input', { type: 'number', name: 'max_age_seconds', min: '1', step: '1', placeholder: 'server default' });
  const create = h('button', { type: 'submit', text: 'Create channel' });
  const form = h(
    'form',
    { class: 'inline-form' },
    field('Channel name', name, 'Dot-separated, e.g. orders or user.42.inbox'),
    field('Keep at most (notifications)', maxCount),
    field('Keep for at most (seconds)', maxAge),
    create,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ch = await attempt(
      out,
      () => api.post(Api.t(tenant, '/channels'), { name: name.value.trim(), retention: { max_count: optInt('Keep at most', maxCount.value), max_age_seconds: optInt('Keep for at most', maxAge.value) } }),
      { button: create, done: (/** @type {Channel} */ c) => `Created channel ${c.name}.` },
    );
    if (ch) {
      form.reset();
      await load();
    }
  });

  async function load() {
    try {
      const page = await api.page(Api.t(tenant, '/channels'), { limit: 50, after: pager.after });
      pager.next = page.next;
      /** @type {Channel[]} */
      const items = page.items;
      list.replaceChildren(
        table(
          'Channels',
          ['Name', 'Retention', 'Plugins', 'Failure policy', 'Email', 'Created', 'Actions'],
          items.map((c) => [
            link(`${tenantRoute(tenant, 'channels')}/${seg(c.name)}`, c.name),
            retentionText(c.retention),
            c.plugins.length ? c.plugins.map((p) => p.plugin).join(' → ') : '—',
            c.failure_policy,
            c.email ? 'on' : 'off',
            time(c.created_at),
            h(
              'div',
              { class: 'row-actions' },
              link(`${tenantRoute(tenant, 'channels')}/${seg(c.name)}`, 'Edit', 'button-link secondary'),
              link(`${tenantRoute(tenant, 'history')}?channel=${seg(c.name)}`, 'History', 'button-link secondary'),
              button('Delete', () => void remove(c), 'danger'),
            ),
          ]),
          'No channels yet. Publishing creates one with the default retention; create it here to choose.',
        ),
        pager.controls('channels'),
      );
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  }

  /** @param {Channel} c */
  async function remove(c) {
    if (!(await confirmDialog(`Delete channel ${c.name}?`, `This deletes ${c.name} and its whole history. It cannot be undone.`, 'Delete channel'))) return;
    if (await attempt(out, () => api.del(Api.t(tenant, `/channels/${seg(c.name)}`)).then(() => true), { done: `Deleted channel ${c.name}.` })) await load();
  }

  ctx.root.append(section('Create a channel', form), out, section('All channels', list));
  await load();
}
