// @ts-check
/**
 * A tenant's allowed browser origins (CORS for the stream, polls, read
 * state and session): list, add, remove; and the cross-origin requests
 * this node refused, with an "Allow" button per refused origin, because a
 * refused page's browser only says that CORS blocked it.
 */

import { Api } from '../api.js';
import { h, field, attempt, outlet, section, table, time, button, errorBox } from '../components/dom.js';
import { every } from '../components/poll.js';

/** @param {import('../session.js').Ctx} ctx */
export default async function origins(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Allowed origins');
  const { api } = ctx;
  const path = Api.t(tenant, '/allowed-origins');
  const out = outlet();
  const list = h('div', { id: 'origins-list' });
  const refusals = h('div', { id: 'origin-refusals' });
  /** @type {string[]} */
  let allowed = [];

  const input = h('input', { type: 'text', name: 'origin', required: true, autocomplete: 'off', placeholder: 'https://app.example.com' });
  const add = h('button', { type: 'submit', text: 'Add origin' });
  const form = h(
    'form',
    { class: 'grid-form' },
    field('Origin', input, 'scheme://host[:port], exactly as browsers send it: no path, no trailing slash.'),
    h('div', { class: 'actions' }, add),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const o = input.value.trim();
    if (await save([...allowed, o], `Allowed ${o}.`, add)) input.value = '';
  });

  /**
   * Replaces the list; Herald validates it (422 with the reason otherwise).
   * @param {string[]} next @param {string} done @param {HTMLButtonElement | null} [btn]
   */
  async function save(next, done, btn) {
    /** @type {import('../api.js').AllowedOrigins | undefined} */
    const r = await attempt(out, () => api.put(path, { origins: next }), { button: btn, done });
    if (!r) return false;
    allowed = r.origins;
    drawList();
    await loadRefusals();
    return true;
  }

  function drawList() {
    list.replaceChildren(
      table(
        'Allowed origins',
        ['Origin', 'Actions'],
        allowed.map((o) => [h('code', { text: o }), button('Remove', () => void save(allowed.filter((x) => x !== o), `Removed ${o}.`), 'danger')]),
        'No origins allowed: pages on other origins receive nothing from the stream or polls.',
      ),
    );
  }

  async function loadRefusals() {
    try {
      /** @type {import('../api.js').OriginRefusals} */
      const r = await api.get(Api.t(tenant, '/allowed-origins/refusals'), undefined, ctx.signal);
      refusals.dataset.refused = String(r.refused);
      refusals.replaceChildren(
        h('p', { id: 'refused-count', text: `${r.refused} cross-origin ${r.refused === 1 ? 'request' : 'requests'} refused by this node since it started.` }),
        table(
          'Recently refused origins',
          ['Origin', 'Refusals', 'Last', 'Actions'],
          r.recent.map((o) => [
            h('code', { text: o.origin }),
            String(o.count),
            time(o.last_at),
            allowed.includes(o.origin)
              ? h('span', { class: 'muted', text: 'Allowed now' })
              : o.allowable
                ? button('Allow', () => void save([...allowed, o.origin], `Allowed ${o.origin}.`), 'secondary')
                : h('span', { class: 'muted', text: 'Not a browser origin' }),
          ]),
          'Nothing refused.',
        ),
      );
    } catch (e) {
      if (!ctx.signal.aborted) refusals.replaceChildren(errorBox(e));
    }
  }

  /** @type {import('../api.js').AllowedOrigins} */
  const first = await api.get(path, undefined, ctx.signal);
  allowed = first.origins;
  drawList();
  ctx.root.append(
    h('p', {
      class: 'muted',
      text: 'Pages on these origins may open the stream and poll across origins. A page on any other origin gets nothing, and its browser only says that CORS blocked it: the refusals below say which origins tried.',
    }),
    section('Allow an origin', form),
    out,
    section('Allowed origins', list),
    section('Refused cross-origin requests', h('p', { class: 'muted', text: 'This node’s, refreshed every 2 seconds.' }), refusals),
  );
  await every(ctx.signal, 2000, loadRefusals);
}
