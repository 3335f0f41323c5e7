// @ts-check
/** A tenant's plugins: upload a component, list versions with their stats, test one on a sample, delete. */

import { Api, seg } from '../api.js';
import { h, replace, field, attempt, outlet, section, table, time, button, errorBox, select, json, parseJson } from '../components/dom.js';
import { confirmDialog } from '../components/dialog.js';

/** @typedef {import('../api.js').PluginVersion} PluginVersion */
/** @typedef {import('../api.js').TestResult} TestResult */

/** @param {import('../session.js').Ctx} ctx */
export default async function plugins(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Plugins');
  const { api } = ctx;
  const out = outlet();
  const list = h('div');
  const detail = h('div');

  // ---- upload ----
  const file = h('input', { type: 'file', name: 'component', accept: '.wasm,application/wasm', required: true });
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', placeholder: 'redact' });
  const version = h('input', { type: 'text', name: 'version', required: true, autocomplete: 'off', placeholder: '1.0.0' });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f && !name.value) name.value = f.name.replace(/\.wasm$/, '');
  });
  const upload = h('button', { type: 'submit', text: 'Upload' });
  const form = h('form', { class: 'inline-form' }, field('Component (.wasm)', file), field('Name', name), field('Version', version), upload);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = file.files?.[0];
    const r = await attempt(
      out,
      () => {
        if (!f) throw new Error('Choose a .wasm component to upload.');
        return api.request('POST', Api.t(tenant, '/plugins'), { query: { name: name.value.trim(), version: version.value.trim() }, blob: f, contentType: 'application/wasm' });
      },
      { button: upload, done: (/** @type {PluginVersion} */ p) => `Uploaded ${p.name} ${p.version} (${p.size} bytes; hooks: ${hooks(p)}).` },
    );
    if (r) {
      form.reset();
      await load();
      await open(/** @type {PluginVersion} */ (r).name);
    }
  });

  async function load() {
    try {
      /** @type {PluginVersion[]} */
      const items = await api.all(Api.t(tenant, '/plugins'));
      /** @type {Map<string, PluginVersion[]>} */
      const byName = new Map();
      for (const p of items) byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
      list.replaceChildren(
        table(
          'Plugins',
          ['Name', 'Versions', 'Hooks', 'Actions'],
          [...byName].map(([n, vs]) => [
            h('strong', { text: n }),
            vs.map((v) => v.version).join(', '),
            hooks(vs[vs.length - 1]),
            h('div', { class: 'row-actions' }, button('Open', () => void open(n), 'secondary'), button('Delete all versions', () => void remove(n), 'danger')),
          ]),
          'No plugins uploaded.',
        ),
      );
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  }

  /** @param {string} plugin @param {string} [v] */
  async function remove(plugin, v) {
    const what = v ? `${plugin} ${v}` : `every version of ${plugin}`;
    if (!(await confirmDialog(`Delete ${what}?`, 'Channels whose chain names it then fail by their failure policy.', 'Delete'))) return;
    const ok = await attempt(out, () => api.del(Api.t(tenant, `/plugins/${seg(plugin)}`), { version: v }).then(() => true), { done: `Deleted ${what}.` });
    if (ok) {
      await load();
      if (v) await open(plugin).catch(() => detail.replaceChildren());
      else detail.replaceChildren();
    }
  }

  /** Shows one plugin's versions and its test form. @param {string} plugin */
  async function open(plugin) {
    try {
      /** @type {{name: string, versions: PluginVersion[]}} */
      const p = await api.get(Api.t(tenant, `/plugins/${seg(plugin)}`));
      detail.replaceChildren(
        section(
          `Plugin ${p.name}`,
          table(
            `Versions of ${p.name}`,
            ['Version', 'Hooks', 'Size', 'SHA-256', 'Calls (ok / failed)', 'Mean', 'Uploaded', 'Actions'],
            p.versions.map((v) => {
              const s = v.stats;
              const failed = s ? s.traps + s.timeouts + s.out_of_fuel + s.memory_exceeded + s.invalid_output + s.other_errors : 0;
              return [
                v.version,
                hooks(v),
                `${v.size} B`,
                h('code', { text: v.sha256.slice(0, 12), title: v.sha256 }),
                s ? `${s.calls} (${s.ok} / ${failed})` : '—',
                s ? `${s.mean_us.toFixed(0)} µs` : '—',
                time(v.created_at),
                button(`Delete ${v.version}`, () => void remove(p.name, v.version), 'danger'),
              ];
            }),
          ),
          testForm(p.name, p.versions),
        ),
      );
    } catch (e) {
      detail.replaceChildren(errorBox(e));
    }
  }

  /** @param {string} plugin @param {PluginVersion[]} versions */
  function testForm(plugin, versions) {
    const hook = select('hook', ['publish', 'deliver'], versions[0]?.hooks.publish === false ? 'deliver' : 'publish');
    const ver = select('version', [['', 'newest'], ...versions.map((v) => /** @type {[string, string]} */ ([v.version, v.version]))]);
    const channel = h('input', { type: 'text', name: 'channel', value: 'orders', required: true });
    const type = h('input', { type: 'text', name: 'type', value: 'order.created', required: true });
    const data = h('textarea', { name: 'data', rows: 4, class: 'mono', value: '{"text": "Contact ada@example.com or +1 202 555 0143"}' });
    const recipients = h('input', { type: 'text', name: 'recipients', placeholder: 'none' });
    const user = h('input', { type: 'text', name: 'user', value: '42' });
    const claims = h('textarea', { name: 'claims', rows: 2, class: 'mono', value: '{}' });
    const config = h('textarea', { name: 'config', rows: 3, class: 'mono', value: '{}' });
    const run = h('button', { type: 'submit', text: 'Run test' });
    const result = h('div', { class: 'test-result', 'aria-live': 'polite' });
    const f = h(
      'form',
      { class: 'stack' },
      h('h3', { text: 'Test on a sample' }),
      h('div', { class: 'grid-form' }, field('Hook', hook), field('Version', ver), field('Channel', channel), field('Type', type), field('Recipients (space-separated)', recipients), field('Subscriber user (deliver hook)', user)),
      field('Data (JSON)', data),
      h('div', { class: 'grid-form' }, field('Configuration (JSON)', config), field('Subscriber claims (JSON, deliver hook)', claims)),
      h('div', { class: 'actions' }, run),
      result,
    );
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      /** @type {TestResult | undefined} */
      const r = await attempt(result, () => {
        /** @type {Record<string, unknown>} */
        const notification = { channel: channel.value.trim(), type: type.value.trim(), data: parseJson('Data', data.value, null) };
        const rc = recipients.value.split(/[\s,]+/).filter(Boolean);
        if (rc.length) notification.recipients = rc;
        /** @type {Record<string, unknown>} */
        const body = { hook: hook.value, notification, config: parseJson('Configuration', config.value, {}) };
        if (ver.value) body.version = ver.value;
        if (hook.value === 'deliver') body.subscriber = { user: user.value.trim(), claims: parseJson('Claims', claims.value, {}) };
        return api.post(Api.t(tenant, `/plugins/${seg(plugin)}/test`), body);
      });
      if (!r) return;
      replace(
        result,
        h(
          'dl',
          { class: `stats-list decision-${r.decision}`, id: 'test-output' },
          h('dt', { text: 'Decision' }),
          h('dd', { class: r.decision === 'error' ? 'bad' : '', text: r.decision }),
          h('dt', { text: 'Time' }),
          h('dd', { text: `${r.duration_us} µs` }),
          h('dt', { text: 'Version' }),
          h('dd', { text: r.version }),
          r.reason ? [h('dt', { text: 'Reason' }), h('dd', { text: r.reason })] : null,
          r.error ? [h('dt', { text: 'Error' }), h('dd', { class: 'bad', text: `${r.error.kind}: ${r.error.message}` })] : null,
        ),
        r.notification ? h('div', null, h('h4', { text: 'Output' }), h('pre', { class: 'mono', text: json(r.notification) })) : null,
      );
    });
    return f;
  }

  ctx.root.append(section('Upload a plugin', h('p', { class: 'muted', text: 'A WebAssembly component exporting herald:plugin hooks. Versions are immutable.' }), form, out), section('Uploaded plugins', list), detail);
  await load();
}

/** @param {PluginVersion | undefined} p */
function hooks(p) {
  if (!p) return '—';
  return [p.hooks.publish && 'publish', p.hooks.deliver && 'deliver'].filter(Boolean).join(', ') || 'none';
}
