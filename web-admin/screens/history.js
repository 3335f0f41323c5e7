// @ts-check
/** A channel's stored notifications, newest first, filtered by type, recipient and time; and its dead letters. */

import { Api, seg } from '../api.js';
import { h, field, section, table, time, errorBox, link, select, json } from '../components/dom.js';
import { Pager } from '../components/pager.js';
import { go, tenantRoute } from '../session.js';

/** @typedef {import('../api.js').HistoryItem} HistoryItem */
/** @typedef {import('../api.js').DeadLetter} DeadLetter */

/** Notifications seen on this screen, for the timeline. @type {Map<string, HistoryItem>} */
export const seen = new Map();

/** `2026-11-26T03:18:01Z` → the `datetime-local` value in the user's zone. @param {string | null} iso */
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** @param {string} v a `datetime-local` value */
const toIso = (v) => (v ? new Date(v).toISOString() : '');

/** @param {import('../session.js').Ctx} ctx */
export default async function history(ctx) {
  const [tenant] = ctx.params;
  ctx.title('History');
  const { api, query } = ctx;
  /** @type {string[]} */
  const names = (await api.all(Api.t(tenant, '/channels'))).map((/** @type {{name: string}} */ c) => c.name);
  const current = query.get('channel') ?? names[0] ?? '';
  if (!current) {
    ctx.root.append(h('p', { class: 'empty', text: 'This tenant has no channels yet.' }));
    return;
  }

  const channel = select('channel', names.includes(current) ? names : [current, ...names], current);
  const type = h('input', { type: 'text', name: 'type', value: query.get('type') ?? '', autocomplete: 'off', placeholder: 'any' });
  const recipient = h('input', { type: 'text', name: 'recipient', value: query.get('recipient') ?? '', autocomplete: 'off', placeholder: 'anyone' });
  const since = h('input', { type: 'datetime-local', name: 'since', value: toLocalInput(query.get('since')) });
  const until = h('input', { type: 'datetime-local', name: 'until', value: toLocalInput(query.get('until')) });
  const form = h(
    'form',
    { class: 'inline-form filters' },
    field('Channel', channel),
    field('Type', type),
    field('Recipient (user id)', recipient),
    field('Since', since),
    field('Until', until),
    h('button', { type: 'submit', text: 'Search' }),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    q.set('channel', channel.value);
    if (type.value.trim()) q.set('type', type.value.trim());
    if (recipient.value.trim()) q.set('recipient', recipient.value.trim());
    if (since.value) q.set('since', toIso(since.value));
    if (until.value) q.set('until', toIso(until.value));
    go(`${tenantRoute(tenant, 'history')}?${q}`);
  });

  const results = h('div', { id: 'history-results' });
  const pager = new Pager(() => void load());
  async function load() {
    try {
      const page = await api.page(Api.t(tenant, `/channels/${seg(current)}/notifications`), {
        limit: 50,
        after: pager.after,
        type: query.get('type'),
        recipient: query.get('recipient'),
        since: query.get('since'),
        until: query.get('until'),
      });
      pager.next = page.next;
      /** @type {HistoryItem[]} */
      const items = page.items;
      for (const n of items) seen.set(`${tenant}/${n.id}`, n);
      results.replaceChildren(
        table(
          'Notifications',
          ['Id', 'Type', 'Recipients', 'Published', 'Data', 'Timeline'],
          items.map((n) => [
            h('strong', { text: `#${n.id}` }),
            h('code', { text: n.type }),
            n.recipients?.length ? n.recipients.join(', ') : h('span', { class: 'muted', text: 'everyone' }),
            time(n.created_at),
            h('details', null, h('summary', { text: preview(n.data) }), h('pre', { class: 'mono', text: json(n.data) })),
            link(`${tenantRoute(tenant, 'history')}/${seg(n.channel)}/${n.id}`, `Timeline of #${n.id}`, 'button-link secondary'),
          ]),
          'No notifications match.',
        ),
        pager.controls('notifications'),
      );
      // Marks which search these results answer (tests wait on it, and a
      // stale page is never mistaken for a new one).
      results.dataset.type = query.get('type') ?? '';
      results.dataset.loaded = 'true';
    } catch (e) {
      results.replaceChildren(errorBox(e));
    }
  }

  const dead = h('div');
  async function loadDead() {
    try {
      /** @type {DeadLetter[]} */
      const items = (await api.page(Api.t(tenant, '/dead-letters'), { channel: current, limit: 100 })).items;
      dead.replaceChildren(
        table(
          'Dead letters',
          ['Id', 'Plugin', 'Hook', 'Outcome', 'Reason', 'Notification', 'At'],
          items.map((d) => [h('code', { text: d.id }), d.plugin, d.hook, d.outcome, d.reason, h('details', null, h('summary', { text: preview(d.notification) }), h('pre', { class: 'mono', text: json(d.notification) })), time(d.created_at)]),
          'No dead letters on this channel.',
        ),
      );
    } catch (e) {
      dead.replaceChildren(errorBox(e));
    }
  }

  ctx.root.append(section('Filters', form), section(`Notifications on ${current}`, results), section('Dead letters (withheld by plugins)', dead));
  await Promise.all([load(), loadDead()]);
}

/** A one-line preview of JSON. @param {unknown} v */
export function preview(v) {
  const s = JSON.stringify(v) ?? 'null';
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}
