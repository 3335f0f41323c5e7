// @ts-check
/** One channel: retention, plugin chain (with JSON configs), failure policy, email policy; delete. */

import { Api, seg } from '../api.js';
import { h, field, attempt, outlet, section, button, select, json, parseJson, optInt, link, time } from '../components/dom.js';
import { confirmDialog } from '../components/dialog.js';
import { go, tenantRoute } from '../session.js';

/** @typedef {import('../api.js').Channel} Channel */
/** @typedef {import('../api.js').ChainStep} ChainStep */

/** @param {import('../session.js').Ctx} ctx */
export default async function channel(ctx) {
  const [tenant, name] = ctx.params;
  ctx.title(`Channel ${name}`);
  const { api } = ctx;
  const path = Api.t(tenant, `/channels/${seg(name)}`);
  /** @type {Channel} */
  const c = await api.get(path, undefined, ctx.signal);
  /** @type {string[]} */
  let pluginNames = [];
  try {
    pluginNames = [...new Set((await api.all(Api.t(tenant, '/plugins'))).map((/** @type {{name: string}} */ p) => p.name))];
  } catch {
    // The chain editor still takes typed names.
  }
  const out = outlet();

  // Retention and failure policy.
  const maxCount = h('input', { type: 'number', name: 'max_count', min: '1', step: '1', value: c.retention.max_count ?? '', placeholder: 'server default' });
  const maxAge = h('input', { type: 'number', name: 'max_age_seconds', min: '1', step: '1', value: c.retention.max_age_seconds ?? '', placeholder: 'server default' });
  const policy = select('failure_policy', [['fail-open', 'fail-open: pass it on unchanged'], ['fail-closed', 'fail-closed: withhold it, record a dead letter']], c.failure_policy);

  // Plugin chain.
  const steps = h('ol', { class: 'chain' });
  const datalist = h('datalist', { id: `plugins-${Math.random().toString(36).slice(2)}` }, pluginNames.map((n) => h('option', { value: n })));
  /** @param {ChainStep} [s] */
  const addStep = (s) => {
    const plugin = h('input', { type: 'text', name: 'plugin', required: true, value: s?.plugin ?? '', list: datalist.id, autocomplete: 'off' });
    const version = h('input', { type: 'text', name: 'version', value: s?.version ?? '', placeholder: 'newest' });
    const deadline = h('input', { type: 'number', name: 'deadline_ms', min: '1', max: '1000', value: s?.deadline_ms ?? '', placeholder: 'server default' });
    const config = h('textarea', { name: 'config', rows: 3, class: 'mono', value: s?.config === undefined ? '{}' : json(s.config) });
    const li = h(
      'li',
      { class: 'step' },
      h('div', { class: 'step-fields' }, field('Plugin', plugin), field('Version', version), field('Deadline (ms)', deadline)),
      field('Configuration (JSON)', config),
      h(
        'div',
        { class: 'row-actions' },
        button('Move up', () => li.previousElementSibling?.before(li), 'secondary'),
        button('Move down', () => li.nextElementSibling?.after(li), 'secondary'),
        button('Remove step', () => li.remove(), 'danger'),
      ),
    );
    li.dataset.step = '';
    /** @returns {ChainStep} */
    /** @type {any} */ (li).read = () => {
      /** @type {ChainStep} */
      const step = { plugin: plugin.value.trim(), config: parseJson(`The configuration of ${plugin.value || 'a step'}`, config.value, {}) };
      if (version.value.trim()) step.version = version.value.trim();
      const d = optInt('Deadline', deadline.value);
      if (d !== null) step.deadline_ms = d;
      return step;
    };
    steps.append(li);
    plugin.focus();
  };
  for (const s of c.plugins) addStep(s);

  // Email policy.
  const emailOn = h('input', { type: 'checkbox', name: 'email', checked: Boolean(c.email) });
  const after = h('input', { type: 'number', name: 'after_seconds', min: '0', max: '604800', value: c.email?.after_seconds ?? 60 });
  const digest = h('input', { type: 'number', name: 'digest_seconds', min: '0', max: '86400', value: c.email?.digest_seconds ?? 0 });
  const subject = h('input', { type: 'text', name: 'subject', value: c.email?.subject ?? '', placeholder: 'Herald’s default' });
  const text = h('textarea', { name: 'text', rows: 4, class: 'mono', value: c.email?.text ?? '', placeholder: 'Herald’s default' });
  const html = h('textarea', { name: 'html', rows: 4, class: 'mono', value: c.email?.html ?? '' });
  const emailFields = h(
    'fieldset',
    { class: 'email-fields', disabled: !c.email },
    h('legend', { text: 'Email policy' }),
    field('Send after (seconds)', after, 'If the user did not receive it live by then.'),
    field('Digest window (seconds)', digest, '0 sends one email per notification.'),
    field('Subject template', subject, 'minijinja; give subject and text together, or neither for the defaults.'),
    field('Text template', text),
    field('HTML template (optional)', html),
  );
  emailOn.addEventListener('change', () => (emailFields.disabled = !emailOn.checked));

  const save = h('button', { type: 'submit', text: 'Save channel' });
  const form = h(
    'form',
    { class: 'stack' },
    section('Retention', h('div', { class: 'grid-form' }, field('Keep at most (notifications)', maxCount, 'Empty: the server default.'), field('Keep for at most (seconds)', maxAge))),
    section(
      'Plugin chain',
      h('p', { class: 'muted', text: 'Steps run in order on every publish and delivery. At most 8 steps, each plugin once.' }),
      datalist,
      steps,
      h('div', { class: 'actions' }, button('Add a step', () => addStep(), 'secondary')),
      field('When a plugin fails', policy),
    ),
    section('Email', field('Send email for this channel', emailOn), emailFields),
    h('div', { class: 'actions sticky' }, save, link(`${tenantRoute(tenant, 'history')}?channel=${seg(name)}`, 'History', 'button-link secondary'), button('Delete channel', () => void remove(), 'danger')),
    out,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await attempt(
      out,
      () => {
        const plugins = [...steps.querySelectorAll('[data-step]')].map((li) => /** @type {any} */ (li).read());
        /** @type {Record<string, unknown>} */
        const body = {
          retention: { max_count: optInt('Keep at most', maxCount.value), max_age_seconds: optInt('Keep for at most', maxAge.value) },
          plugins,
          failure_policy: policy.value,
          email: null,
        };
        if (emailOn.checked) {
          /** @type {Record<string, unknown>} */
          const e = { after_seconds: optInt('Send after', after.value) ?? 60, digest_seconds: optInt('Digest window', digest.value) ?? 0 };
          if (subject.value.trim() || text.value.trim()) Object.assign(e, { subject: subject.value, text: text.value });
          if (html.value.trim()) e.html = html.value;
          body.email = e;
        }
        return api.patch(path, body);
      },
      { button: save, done: 'Channel saved.' },
    );
  });

  async function remove() {
    if (!(await confirmDialog(`Delete channel ${name}?`, `This deletes ${name} and its whole history. It cannot be undone.`, 'Delete channel'))) return;
    if (await attempt(out, () => api.del(path).then(() => true))) go(tenantRoute(tenant, 'channels'));
  }

  ctx.root.append(h('p', { class: 'muted' }, 'Id ', h('code', { text: c.id }), ' · created ', time(c.created_at)), form);
}
