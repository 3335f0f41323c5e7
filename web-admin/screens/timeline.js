// @ts-check
/** One notification's delivery timeline: publication, live deliveries and emails, and dead letters. */

import { Api, seg } from '../api.js';
import { h, section, errorBox, time, json, link } from '../components/dom.js';
import { tenantRoute } from '../session.js';
import { seen } from './history.js';

/** @typedef {import('../api.js').HistoryItem} HistoryItem */
/** @typedef {import('../api.js').Delivery} Delivery */
/** @typedef {import('../api.js').DeadLetter} DeadLetter */

/** @param {import('../session.js').Ctx} ctx */
export default async function timeline(ctx) {
  const [tenant, channel, idText] = ctx.params;
  const id = Number(idText);
  ctx.title(`Notification #${id}`);
  const { api } = ctx;
  const back = link(`${tenantRoute(tenant, 'history')}?channel=${seg(channel)}`, `Back to the history of ${channel}`);
  ctx.root.append(h('p', null, back));

  const [notification, deliveries, dead] = await Promise.all([
    find(api, tenant, channel, id).catch((e) => e),
    /** @type {Promise<Delivery[]>} */ (api.all(Api.t(tenant, '/deliveries'), { notification: id })).catch((e) => e),
    /** @type {Promise<DeadLetter[]>} */ (api.all(Api.t(tenant, '/dead-letters'), { channel }, 2000)).catch((e) => e),
  ]);

  if (notification instanceof Error) ctx.root.append(errorBox(notification));
  else if (notification) {
    ctx.root.append(
      section(
        'Notification',
        h(
          'dl',
          { class: 'stats-list' },
          h('dt', { text: 'Type' }),
          h('dd', null, h('code', { text: notification.type })),
          h('dt', { text: 'Channel' }),
          h('dd', null, h('code', { text: notification.channel })),
          h('dt', { text: 'Recipients' }),
          h('dd', { text: notification.recipients?.length ? notification.recipients.join(', ') : 'everyone' }),
          h('dt', { text: 'Published' }),
          h('dd', null, time(notification.created_at)),
        ),
        h('pre', { class: 'mono', text: json(notification.data) }),
      ),
    );
  } else {
    ctx.root.append(h('p', { class: 'alert warn', text: `Notification #${id} is no longer in the history of ${channel} (retention may have removed it).` }));
  }

  /** @type {{at: string, kind: string, title: string, detail: string, cls: string}[]} */
  const events = [];
  if (notification && !(notification instanceof Error)) events.push({ at: notification.created_at, kind: 'published', title: 'Published', detail: `Stored as #${id} on ${channel}`, cls: 'ok' });
  if (deliveries instanceof Error) ctx.root.append(errorBox(deliveries));
  else {
    for (const d of deliveries) {
      const via = d.path === 'email' ? `email${d.email ? ` ${d.email}` : ''}, attempt ${d.attempt}` : `live over ${d.path}`;
      events.push({ at: d.at, kind: d.status, title: `${cap(d.status)} · ${d.user}`, detail: `${via}${d.error ? ` · ${d.error}` : ''}`, cls: d.status === 'failed' ? 'bad' : d.status === 'deferred' || d.status === 'cancelled' ? 'warn' : 'ok' });
    }
  }
  if (dead instanceof Error) ctx.root.append(errorBox(dead));
  else {
    for (const d of /** @type {DeadLetter[]} */ (dead).filter((d) => d.notification?.id === id)) {
      events.push({ at: d.created_at, kind: 'dead-letter', title: `Dead letter · ${d.plugin} (${d.hook})`, detail: `${d.outcome}: ${d.reason}`, cls: 'bad' });
    }
  }
  events.sort((a, b) => a.at.localeCompare(b.at));
  ctx.root.append(
    section(
      'Delivery timeline',
      h('p', { class: 'muted', text: 'The delivery log records emails and the live deliveries that made a pending email unnecessary; broadcasts delivered live are not logged one by one.' }),
      h(
        'ol',
        { class: 'timeline', id: 'timeline' },
        events.map((e) => h('li', { class: `event ${e.cls}`, dataset: { kind: e.kind } }, time(e.at), h('strong', { text: e.title }), h('span', { text: e.detail }))),
      ),
      events.length <= 1 ? h('p', { class: 'empty', text: 'No delivery records for this notification.' }) : null,
    ),
  );
}

/** @param {string} s */
const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The notification, from what the history screen saw or by paging the
 * channel's history (Herald has no endpoint for one notification).
 * @param {Api} api @param {string} tenant @param {string} channel @param {number} id
 * @returns {Promise<HistoryItem | null>}
 */
async function find(api, tenant, channel, id) {
  const cached = seen.get(`${tenant}/${id}`);
  if (cached) return cached;
  /** @type {string | null} */
  let after = null;
  for (let i = 0; i < 10; i++) {
    const page = await api.page(Api.t(tenant, `/channels/${seg(channel)}/notifications`), { limit: 1000, after });
    /** @type {HistoryItem[]} */
    const items = page.items;
    const hit = items.find((n) => n.id === id);
    if (hit) return hit;
    if (!page.next || items.some((n) => n.id < id)) return null;
    after = page.next;
  }
  return null;
}
