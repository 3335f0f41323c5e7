// @ts-check
/** The operator's tenants: list (paged), create, rename, suspend or resume, delete. */

import { Api } from '../api.js';
import { h, field, attempt, outlet, section, table, time, link, button, errorBox } from '../components/dom.js';
import { Pager } from '../components/pager.js';
import { openDialog, confirmDialog } from '../components/dialog.js';
import { tenantRoute, tenantNames } from '../session.js';

/** @typedef {import('../api.js').Tenant} Tenant */

/** @param {import('../session.js').Ctx} ctx */
export default async function tenants(ctx) {
  ctx.title('Tenants');
  const { api } = ctx;
  const out = outlet();
  const list = h('div');
  const pager = new Pager(() => void load());

  const name = h('input', { type: 'text', name: 'name', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', maxLength: 64, autocomplete: 'off' });
  const create = h('button', { type: 'submit', text: 'Create tenant' });
  const form = h('form', { class: 'inline-form' }, field('New tenant name', name, '1–64 of A–Z a–z 0–9 - _ .'), create);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = await attempt(out, () => api.post('/v1/tenants', { name: name.value.trim() }), {
      button: create,
      done: (/** @type {Tenant} */ t) => `Created tenant ${t.name} (${t.id}).`,
    });
    if (t) {
      name.value = '';
      await load();
    }
  });

  async function load() {
    try {
      const page = await api.page('/v1/tenants', { limit: 50, after: pager.after });
      pager.next = page.next;
      /** @type {Tenant[]} */
      const items = page.items;
      for (const t of items) tenantNames.set(t.id, t.name);
      list.replaceChildren(
        table(
          'Tenants',
          ['Name', 'Id', 'Status', 'Created', 'Actions'],
          items.map((t) => [
            link(tenantRoute(t.id, 'dashboard'), t.name),
            h('code', { text: t.id }),
            t.suspended === undefined ? h('span', { class: 'muted', text: '—' }) : h('span', { class: t.suspended ? 'badge warn' : 'badge ok', text: t.suspended ? 'Suspended' : 'Active' }),
            time(t.created_at),
            h(
              'div',
              { class: 'row-actions' },
              link(tenantRoute(t.id, 'quotas'), 'Quotas', 'button-link secondary'),
              button('Rename', () => void rename(t), 'secondary'),
              button(t.suspended ? 'Resume' : 'Suspend', () => void suspend(t, !t.suspended), 'secondary'),
              button('Delete', () => void remove(t), 'danger'),
            ),
          ]),
          'No tenants yet: create one above.',
        ),
        pager.controls('tenants'),
      );
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  }

  /** @param {Tenant} t */
  async function rename(t) {
    const input = h('input', { type: 'text', name: 'name', value: t.name, required: true, maxLength: 64 });
    const err = outlet();
    await openDialog({
      title: `Rename ${t.name}`,
      body: [field('New name', input), err],
      actions: [{ label: 'Rename', value: 'save' }],
      beforeClose: async () => Boolean(await attempt(err, () => api.patch(Api.t(t.id), { name: input.value.trim() }))),
    }).then(async (v) => {
      if (v) {
        out.replaceChildren(h('div', { class: 'alert ok', role: 'status', text: `Renamed to ${input.value.trim()}.` }));
        await load();
      }
    });
  }

  /** @param {Tenant} t @param {boolean} suspended */
  async function suspend(t, suspended) {
    if (suspended && !(await confirmDialog(`Suspend ${t.name}?`, 'A suspended tenant is refused by Herald until it is resumed.', 'Suspend'))) return;
    const r = await attempt(out, () => api.patch(Api.t(t.id), { suspended }), {
      done: (/** @type {Tenant} */ r) => (r.suspended === undefined ? 'The server answered without a suspension state.' : `${t.name} is ${r.suspended ? 'suspended' : 'active'}.`),
    });
    if (r) await load();
  }

  /** @param {Tenant} t */
  async function remove(t) {
    const ok = await confirmDialog(
      `Delete tenant ${t.name}?`,
      `This deletes ${t.name} (${t.id}) with all its keys, signing keys, channels, notifications and plugins. Open streams end. It cannot be undone.`,
      'Delete tenant',
    );
    if (!ok) return;
    const r = await attempt(out, () => api.del(Api.t(t.id)).then(() => true), { done: `Deleted tenant ${t.name}.` });
    if (r) await load();
  }

  ctx.root.append(section('Create a tenant', form), out, section('All tenants', list));
  await load();
}
