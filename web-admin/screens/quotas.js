// @ts-check
/** A tenant's quotas: everyone with admin rights reads them, the operator sets them. */

import { Api } from '../api.js';
import { h, field, attempt, outlet, section, optInt } from '../components/dom.js';

const FIELDS = /** @type {const} */ ([
  ['publishes_per_second', 'Publishes per second (per node)'],
  ['max_connections', 'Open connections (per node)'],
  ['max_stored_notifications', 'Stored notifications'],
  ['emails_per_day', 'Emails per day'],
]);

/** @param {import('../session.js').Ctx} ctx */
export default async function quotas(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Quotas');
  const { api } = ctx;
  const path = Api.t(tenant, '/quotas');
  const out = outlet();
  /** @type {import('../api.js').Quotas} */
  const q = await api.get(path, undefined, ctx.signal);
  const operator = ctx.session.role === 'operator';
  const inputs = FIELDS.map(([k, label]) => {
    const input = h('input', { type: 'number', name: k, min: '1', step: '1', value: q[k] ?? '', placeholder: 'unlimited', disabled: !operator });
    return { k, input, el: field(label, input, 'Empty means unlimited.') };
  });
  const save = h('button', { type: 'submit', text: 'Save quotas' });
  const form = h('form', { class: 'grid-form' }, inputs.map((i) => i.el), operator ? h('div', { class: 'actions' }, save) : h('p', { class: 'muted', text: 'Only the operator can change quotas.' }), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await attempt(
      out,
      async () => {
        /** @type {Record<string, number | null>} */
        const body = {};
        for (const { k, input } of inputs) body[k] = optInt(k, input.value);
        return api.put(path, body);
      },
      { button: save, done: 'Quotas saved.' },
    );
  });
  ctx.root.append(section('Limits', form));
}
