// @ts-check
/**
 * Live tail: the tenant's notifications on some channels as they are
 * published, received over SSE by Herald's own browser client
 * (`/admin/herald.js`) with a short-lived subscriber token, plus a form to
 * publish a test notification with the admin key.
 */

import { Api, ApiError, seg } from '../api.js';
import { h, field, attempt, outlet, section, button, errorBox, json, parseJson } from '../components/dom.js';
import { mintWithHerald } from '../components/tokens.js';

/** @typedef {typeof import('../../clients/js/herald.js')} HeraldModule */
/** @typedef {import('../../clients/js/herald.js').HeraldClient} HeraldClient */
/** @typedef {import('../../clients/js/herald.js').Notification} Notification */

const TTL_SECONDS = 600;
const MAX_SHOWN = 500;

/** Herald serves its client next to the console, at `/admin/herald.js`. */
async function loadClient() {
  return /** @type {HeraldModule} */ (await import(new URL('../herald.js', import.meta.url).href));
}

/** @param {import('../session.js').Ctx} ctx */
export default async function tail(ctx) {
  const [tenant] = ctx.params;
  ctx.title('Live tail');
  const { api } = ctx;
  /** @type {string[]} */
  let channelNames = [];
  try {
    channelNames = (await api.all(Api.t(tenant, '/channels'))).map((/** @type {{name: string}} */ c) => c.name);
  } catch (e) {
    ctx.root.append(errorBox(e));
  }
  const initial = ctx.query.get('channel') ?? channelNames[0] ?? '';

  // ---- subscription ----
  const channels = h('input', { type: 'text', name: 'channels', value: initial, required: true, autocomplete: 'off', list: 'tail-channels', class: 'mono' });
  const sub = h('input', { type: 'text', name: 'sub', value: 'admin-console', required: true, autocomplete: 'off' });
  const start = h('button', { type: 'submit', text: 'Start tail' });
  const pause = h('button', { type: 'button', class: 'secondary', text: 'Pause', disabled: true });
  const stop = h('button', { type: 'button', class: 'secondary', text: 'Stop', disabled: true });
  const clear = button('Clear', () => log.replaceChildren(), 'secondary');
  const status = h('p', { class: 'tail-status', role: 'status', id: 'tail-status', text: 'Stopped.' });
  const tailErr = h('div');
  const log = h('ol', { class: 'tail-log', id: 'tail-log', 'aria-label': 'Received notifications, newest first', reversed: true });
  const subForm = h(
    'form',
    { class: 'stack' },
    h('div', { class: 'grid-form' }, field('Channels or patterns (space-separated)', channels, 'e.g. orders user.42.*'), field('Subscriber id (token sub)', sub, 'Notifications addressed to other recipients are not shown.')),
    h('datalist', { id: 'tail-channels' }, channelNames.map((n) => h('option', { value: n }))),
    h('div', { class: 'actions' }, start, pause, stop, clear),
    status,
    tailErr,
  );

  /** @type {HeraldClient | null} */
  let client = null;
  let paused = false;
  let held = 0;

  /** @param {string[]} subscribe */
  const tokenFor = (subscribe) => () => mintWithHerald(api, tenant, { sub: sub.value.trim(), subscribe, ttlSeconds: TTL_SECONDS });

  /** @param {Notification} n */
  const show = (n) => {
    log.prepend(
      h(
        'li',
        { class: 'tail-item', dataset: { id: String(n.id), type: n.type } },
        h('div', { class: 'tail-head' }, h('strong', { text: `#${n.id}` }), ' ', h('code', { text: n.channel }), ' ', h('span', { class: 'badge', text: n.type }), ' ', h('time', { dateTime: n.created_at, text: new Date(n.created_at).toLocaleTimeString() })),
        h('pre', { class: 'mono', text: json(n.data) }),
      ),
    );
    while (log.children.length > MAX_SHOWN) log.lastElementChild?.remove();
  };

  subForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    client?.stop();
    tailErr.replaceChildren();
    const list = channels.value.split(/[\s,]+/).filter(Boolean);
    if (!list.length) {
      tailErr.replaceChildren(errorBox(new Error('Name at least one channel.')));
      return;
    }
    const getToken = tokenFor(list);
    // Fail early, with Herald's own error, rather than inside the client's retries.
    let first;
    try {
      first = await getToken();
    } catch (e) {
      tailErr.replaceChildren(tokenError(e, tenant));
      return;
    }
    const { HeraldClient } = await loadClient();
    let initialToken = /** @type {string | null} */ (first);
    paused = false;
    held = 0;
    const c = new HeraldClient({
      url: location.origin,
      tenant,
      channels: list,
      transport: 'auto',
      token: async () => {
        if (initialToken) {
          const t = initialToken;
          initialToken = null;
          return t;
        }
        return getToken();
      },
      onNotification: show,
      onStatus: (s) => {
        status.textContent = `${label(s.state)}${s.transport ? ` over ${s.transport === 'sse' ? 'SSE' : 'long-polling'}` : ''}${s.lastEventId !== null ? ` · last id ${s.lastEventId}` : ''}${s.error ? ` · ${s.error.message}` : ''}`;
        status.dataset.state = s.state;
        if (s.state === 'failed' && s.error) tailErr.replaceChildren(errorBox(s.error));
      },
      onError: (e) => {
        if (e.kind === 'problem' && !e.retryable) tailErr.replaceChildren(errorBox(e));
      },
    });
    client = c;
    c.start();
    pause.disabled = false;
    pause.textContent = 'Pause';
    stop.disabled = false;
  });

  pause.addEventListener('click', () => {
    if (!client) return;
    if (!paused) {
      // Stopping keeps the client's last id: resuming fetches what came meanwhile, with no gap.
      client.stop();
      paused = true;
      held = client.lastEventId ?? 0;
      pause.textContent = 'Resume';
      status.textContent = `Paused after id ${held}. Resume to catch up from there.`;
      status.dataset.state = 'paused';
    } else {
      paused = false;
      pause.textContent = 'Pause';
      client.start();
    }
  });
  stop.addEventListener('click', () => {
    client?.stop();
    client = null;
    paused = false;
    pause.disabled = true;
    pause.textContent = 'Pause';
    stop.disabled = true;
    status.textContent = 'Stopped.';
    status.dataset.state = 'stopped';
  });
  ctx.signal.addEventListener('abort', () => client?.stop());

  // ---- publish a test notification ----
  const pubChannel = h('input', { type: 'text', name: 'channel', value: initial, required: true, autocomplete: 'off', list: 'tail-channels', class: 'mono' });
  const pubType = h('input', { type: 'text', name: 'type', value: 'admin.test', required: true, autocomplete: 'off' });
  const pubData = h('textarea', { name: 'data', rows: 3, class: 'mono', value: '{"hello": "from the admin console"}' });
  const pubRecipients = h('input', { type: 'text', name: 'recipients', autocomplete: 'off', placeholder: 'everyone' });
  const publish = h('button', { type: 'submit', text: 'Send test notification' });
  const pubOut = outlet();
  const pubForm = h(
    'form',
    { class: 'stack' },
    h('div', { class: 'grid-form' }, field('Channel', pubChannel), field('Type', pubType), field('Recipients (space-separated user ids)', pubRecipients, 'Empty: a broadcast to every subscriber.')),
    field('Data (JSON)', pubData),
    h('div', { class: 'actions' }, publish),
    pubOut,
  );
  pubForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await attempt(
      pubOut,
      () => {
        /** @type {Record<string, unknown>} */
        const body = { type: pubType.value.trim(), data: parseJson('Data', pubData.value, null) };
        const rcpt = pubRecipients.value.split(/[\s,]+/).filter(Boolean);
        if (rcpt.length) body.recipients = rcpt;
        return api.post(Api.t(tenant, `/channels/${seg(pubChannel.value.trim())}/notifications`), body);
      },
      {
        button: publish,
        done: (/** @type {{id: number | null, withheld?: {plugin: string, reason: string, dead_letter: string}}} */ r) =>
          r.id !== null ? `Published notification #${r.id}.` : `Withheld by plugin ${r.withheld?.plugin}: ${r.withheld?.reason} (dead letter ${r.withheld?.dead_letter}).`,
      },
    );
  });

  ctx.root.append(section('Subscription', subForm), section('Send a test notification', pubForm), section('Received', log));
}

/** @param {string} state */
function label(state) {
  return { connecting: 'Connecting', open: 'Live', reconnecting: 'Reconnecting', stopped: 'Stopped', failed: 'Failed' }[state] ?? state;
}

/** Explains a failure to get a token. @param {unknown} e @param {string} tenant */
function tokenError(e, tenant) {
  if (e instanceof ApiError && e.status === 409) {
    return errorBox(new ApiError({ status: 409, type: e.type, title: 'No HS256 signing key', detail: `${e.detail ?? ''} Create an HS256 signing key for ${tenant} on the Keys screen first.`.trim() }));
  }
  return errorBox(e);
}
