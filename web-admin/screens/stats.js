// @ts-check
/** The operator's view of this node: totals as live charts, and the busiest tenants. */

import { h, section, table, errorBox, link } from '../components/dom.js';
import { every } from '../components/poll.js';
import { tenantRoute, tenantNames } from '../session.js';
import '../components/chart.js';

/** @typedef {import('../components/chart.js').Sparkline} Sparkline */

/** @param {string} label @param {string} [unit] */
export function spark(label, unit = '') {
  const el = /** @type {Sparkline} */ (document.createElement('hx-sparkline'));
  el.setAttribute('label', label);
  if (unit) el.setAttribute('unit', unit);
  return el;
}

/** @param {import('../session.js').Ctx} ctx */
export default async function stats(ctx) {
  ctx.title('Server stats');
  const charts = {
    connections: spark('Open connections'),
    published: spark('Notifications per second'),
    delivered: spark('Deliveries per second'),
  };
  const summary = h('p', { class: 'muted', 'aria-live': 'off' });
  const top = h('div');
  const err = h('div');
  ctx.root.append(
    h('p', { class: 'muted', text: 'Figures are this node’s, since it started; refreshed every 2 seconds.' }),
    err,
    section('Live', h('div', { class: 'charts' }, charts.connections, charts.published, charts.delivered), summary),
    section('Top tenants', top),
  );
  await every(ctx.signal, 2000, async () => {
    try {
      /** @type {import('../api.js').SystemStats} */
      const s = await ctx.api.get('/v1/stats', { top: 20 }, ctx.signal);
      err.replaceChildren();
      charts.connections.push(s.totals.connections.total);
      charts.published.push(s.totals.published.per_second_10s);
      charts.delivered.push(s.totals.delivered.per_second_10s);
      summary.textContent = `Up ${Math.round(s.uptime_seconds)} s · ${s.totals.tenants} tenants with traffic · ${s.totals.published.total} published · ${s.totals.delivered.total} delivered`;
      top.replaceChildren(
        table(
          'Top tenants',
          ['Tenant', 'Connections', 'Published (total, /s)', 'Delivered (total, /s)'],
          s.tenants.map((t) => [
            link(tenantRoute(t.tenant, 'dashboard'), tenantNames.get(t.tenant) ?? t.tenant),
            `${t.connections.total} (${t.connections.sse} SSE, ${t.connections.long_poll} poll)`,
            `${t.published.total} · ${t.published.per_second_10s.toFixed(2)}/s`,
            `${t.delivered.total} · ${t.delivered.per_second_10s.toFixed(2)}/s`,
          ]),
          'No tenant traffic on this node yet.',
        ),
      );
    } catch (e) {
      if (!ctx.signal.aborted) err.replaceChildren(errorBox(e));
    }
  });
}
