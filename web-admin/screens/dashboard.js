// @ts-check
/** A tenant's live stats: connections, publish and delivery rates as charts, email outcomes, plugin errors. */

import { Api } from '../api.js';
import { h, section, table, errorBox, replace } from '../components/dom.js';
import { every } from '../components/poll.js';
import { spark } from './stats.js';

/** @param {import('../session.js').Ctx} ctx */
export default async function dashboard(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Dashboard');
  const charts = {
    connections: spark('Open connections'),
    published: spark('Notifications per second'),
    delivered: spark('Deliveries per second'),
  };
  const err = h('div');
  const summary = h('p', { class: 'muted' });
  const emails = h('div');
  const plugins = h('div');
  const patterns = h('div');
  ctx.root.append(
    h('p', { class: 'muted', text: 'Connections and rates are this node’s, since it started; refreshed every 2 seconds.' }),
    err,
    section('Live', h('div', { class: 'charts', id: 'dashboard-charts' }, charts.connections, charts.published, charts.delivered), summary),
    h('div', { class: 'two-col' }, section('Email, last 24 hours', emails), section('Plugin errors', plugins)),
    section('Connections by pattern', patterns),
  );
  await every(ctx.signal, 2000, async () => {
    try {
      /** @type {import('../api.js').TenantStats} */
      const s = await ctx.api.get(Api.t(tenant, '/stats'), undefined, ctx.signal);
      err.replaceChildren();
      charts.connections.push(s.connections.total);
      charts.published.push(s.published.per_second_10s);
      charts.delivered.push(s.delivered.per_second_10s);
      summary.textContent = `${s.connections.sse} SSE streams, ${s.connections.long_poll} long-polls · ${s.published.total} published, ${s.delivered.total} delivered since start (${s.published.per_second_60s.toFixed(2)}/s and ${s.delivered.per_second_60s.toFixed(2)}/s over a minute)`;
      const e = s.emails_24h;
      replace(
        emails,
        h(
          'dl',
          { class: 'stats-list' },
          /** @type {[string, number][]} */ ([
            ['Sent', e.sent],
            ['Received live instead', e.delivered],
            ['Deferred', e.deferred],
            ['Failed', e.failed],
            ['Cancelled', e.cancelled],
          ]).flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v, class: k === 'Failed' && v > 0 ? 'bad' : '' })]),
        ),
      );
      const dl = Object.entries(s.plugins.dead_letters_24h);
      replace(
        plugins,
        h(
          'dl',
          { class: 'stats-list' },
          h('dt', { text: 'Failed calls on this node' }),
          h('dd', { text: s.plugins.call_errors_on_node, class: s.plugins.call_errors_on_node > 0 ? 'bad' : '' }),
          dl.length ? dl.flatMap(([k, v]) => [h('dt', { text: `Dead letters (${k}), 24 h` }), h('dd', { text: v })]) : [h('dt', { text: 'Dead letters, 24 h' }), h('dd', { text: 0 })],
        ),
      );
      replace(patterns, table('Connections by pattern', ['Pattern', 'Connections'], s.connections_by_pattern.map((p) => [h('code', { text: p.pattern }), String(p.connections)]), 'No open connections.'));
    } catch (e) {
      if (!ctx.signal.aborted) err.replaceChildren(errorBox(e));
    }
  });
}
