// @ts-check
/**
 * Herald's browser client: receives a tenant's notifications over
 * Server-Sent Events, falls back to long-polling by itself when SSE fails or
 * is buffered by a proxy, goes back to SSE when it can, and resumes after
 * the last id it saw on every reconnection, so nothing is lost or doubled.
 *
 * One ES module, no runtime dependencies.
 *
 * @module herald
 */

/**
 * A notification as Herald delivers it.
 * @typedef {object} Notification
 * @property {number} id Per-tenant id, increasing in commit order.
 * @property {string} channel The channel it was published to.
 * @property {string} type The publisher's type, e.g. `order.created`.
 * @property {unknown} data The publisher's JSON, verbatim.
 * @property {string} created_at RFC 3339 commit time.
 * @property {boolean} [read] Whether the user marked it read (long-polling only).
 */

/** @typedef {'sse' | 'poll'} Transport */

/**
 * - `connecting`: starting, or opening a stream.
 * - `open`: receiving (a stream is open, or polling works).
 * - `reconnecting`: waiting before the next attempt after a failure.
 * - `stopped`: `stop()` was called, or never started.
 * - `failed`: Herald refused the subscription for good (e.g. `403
 *   scope-denied`, `422`); the client stopped. See `error`.
 * @typedef {'connecting' | 'open' | 'reconnecting' | 'stopped' | 'failed'} State
 */

/**
 * @typedef {object} Status
 * @property {State} state
 * @property {Transport | null} transport The transport in use, or `null` when stopped.
 * @property {number | null} lastEventId The id receiving resumes after.
 * @property {HeraldError} [error] What caused this state, if it is a failure.
 * @property {number} [retryInMs] With `reconnecting`: the wait before the next attempt.
 * @property {string} [reason] Why the transport changed (`sse-failed`, `sse-buffered`, `sse-restored`, ...).
 */

/**
 * @typedef {object} HeraldOptions
 * @property {string} url Herald's base URL, e.g. `https://herald.example.com`.
 * @property {string} tenant The tenant id (`ten_…`).
 * @property {string[]} channels Channels or patterns (`orders`, `user.42.*`), each covered by the token.
 * @property {() => string | Promise<string>} token Returns a subscriber JWT
 *   from your back end. Called at start, shortly before the current token
 *   expires, and when Herald says it expired.
 * @property {(n: Notification) => void} [onNotification] Called once per notification, in id order.
 * @property {(s: Status) => void} [onStatus] Called when the state or the transport changes.
 * @property {(e: HeraldError) => void} [onError] Called for every failure, including the ones retried.
 * @property {(info: {lastEventId: number}) => void} [onHistoryTruncated] Retention removed
 *   notifications newer than the resume point: some were lost before this client could get them.
 * @property {'auto' | 'sse' | 'poll'} [transport] `auto` (default): SSE, with fallback to long-polling.
 * @property {'token' | 'cookie'} [credentials] `token` (default): the JWT travels in the query
 *   string (streams) or the `Authorization` header. `cookie`: the client posts the JWT to Herald's
 *   session endpoint once per token, and Herald keeps it in an HttpOnly cookie sent with every request.
 * @property {number | null} [lastEventId] Resume after this id (e.g. one kept from a previous page).
 *   `0` replays all retained history. By default the client starts from the current position.
 * @property {number} [pollWaitSeconds] How long a long-poll waits for something to arrive (default 25, at most 30).
 * @property {number} [sseRetryMs] While polling, how often to try SSE again (default 30000).
 * @property {number} [bufferProbeMs] After this long with no event on an open stream, check by
 *   polling whether a proxy holds the stream back (default 20000; 0 turns the check off).
 * @property {number} [backoffBaseMs] First retry delay after a failure (default 1000), doubled per failure, with jitter.
 * @property {number} [backoffMaxMs] Longest retry delay (default 30000).
 * @property {number} [refreshMarginMs] Refresh the token this long before it expires (default:
 *   a fifth of its lifetime, at most 30 s).
 */

/** An error from Herald (its `application/problem+json`), the network, or the token callback. */
export class HeraldError extends Error {
  /**
   * @param {string} message
   * @param {object} [fields]
   * @param {'problem' | 'network' | 'stream' | 'token'} [fields.kind]
   * @param {number} [fields.status] HTTP status, for `problem`.
   * @param {string} [fields.type] Problem type, e.g. `urn:herald:problem:invalid-token`.
   * @param {string} [fields.title]
   * @param {string} [fields.detail]
   * @param {unknown} [fields.cause]
   */
  constructor(message, fields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'HeraldError';
    /** `problem`: Herald answered with an error; `network`: no answer (offline, CORS, DNS);
     * `stream`: the event stream failed (EventSource does not say why); `token`: the token callback failed. */
    this.kind = fields.kind ?? 'problem';
    /** @type {number | undefined} */
    this.status = fields.status;
    /** @type {string | undefined} */
    this.type = fields.type;
    /** @type {string | undefined} */
    this.title = fields.title;
    /** @type {string | undefined} */
    this.detail = fields.detail;
  }

  /** Whether retrying may help: network failures, 401 (new token), 408, 429 and 5xx. */
  get retryable() {
    if (this.kind !== 'problem' || this.status === undefined) return true;
    return this.status === 401 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/**
 * Reads `exp` (Unix seconds) from a JWT's payload, without verifying it.
 * @param {string} jwt
 * @returns {number | null}
 */
export function tokenExpiry(jwt) {
  const part = jwt.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    /** @type {unknown} */
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (claims && typeof claims === 'object' && 'exp' in claims && typeof claims.exp === 'number') return claims.exp;
  } catch {
    // Not a JWT we can read: no proactive refresh, Herald will tell.
  }
  return null;
}

/**
 * @typedef {object} PollPage
 * @property {Notification[]} items
 * @property {number} next
 * @property {boolean} more
 * @property {boolean} truncated
 */

/**
 * @typedef {object} RequestInit2
 * @property {Record<string, string | number | undefined>} [query]
 * @property {unknown} [body]
 * @property {AbortSignal} [signal]
 * @property {number} [timeoutMs]
 */

const DEFAULTS = {
  transport: /** @type {'auto' | 'sse' | 'poll'} */ ('auto'),
  credentials: /** @type {'token' | 'cookie'} */ ('token'),
  pollWaitSeconds: 25,
  sseRetryMs: 30_000,
  bufferProbeMs: 20_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
};

/** How long the buffering check waits for the stream to deliver what a poll already returned. */
const PROBE_GRACE_MS = 2_000;
/** Streams that open then drop this many times in a row without an event count as failing SSE. */
const MAX_EMPTY_DROPS = 3;

/** Receives a tenant's notifications from Herald. */
export class HeraldClient {
  /** @type {Required<Omit<HeraldOptions, 'lastEventId' | 'refreshMarginMs' | 'onNotification' | 'onStatus' | 'onError' | 'onHistoryTruncated'>> & HeraldOptions} */
  #o;
  /** @type {number | null} */
  #last;
  /** @type {Transport | null} */
  #transport = null;
  /** @type {State} */
  #state = 'stopped';
  /** Bumped by start() and stop(): work of an older run sees it changed and quits. */
  #run = 0;

  /** @type {EventSource | null} */
  #es = null;
  /** Consecutive streams that failed before opening. */
  #preOpenFailures = 0;
  /** Consecutive streams that dropped after opening without delivering an event. */
  #emptyDrops = 0;
  /** Set once a proxy was seen holding the stream back: stay on polling. */
  #sseBuffered = false;
  /** @type {AbortController | null} */
  #poll = null;
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  #timers = new Set();
  /** @type {ReturnType<typeof setTimeout> | null} */
  #quietTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #refreshTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #sseRetryTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #reconnectTimer = null;

  /** @type {string | null} */
  #token = null;
  /** @type {number | null} exp of #token, Unix seconds */
  #tokenExp = null;
  /** When #token was received, ms. */
  #tokenAt = 0;
  /** @type {Promise<string> | null} */
  #tokenPending = null;
  /** The token the session cookie was last set from. */
  /** @type {string | null} */
  #sessionToken = null;

  /** @param {HeraldOptions} options */
  constructor(options) {
    if (!options || typeof options.url !== 'string' || !options.url) throw new TypeError('HeraldClient: `url` is required');
    if (typeof options.tenant !== 'string' || !options.tenant) throw new TypeError('HeraldClient: `tenant` is required');
    if (!Array.isArray(options.channels) || options.channels.length === 0) {
      throw new TypeError('HeraldClient: `channels` must list at least one channel');
    }
    if (typeof options.token !== 'function') throw new TypeError('HeraldClient: `token` must be a function returning a JWT');
    const o = { ...DEFAULTS, ...stripUndefined(options) };
    if (!['auto', 'sse', 'poll'].includes(o.transport)) throw new TypeError(`HeraldClient: unknown transport \`${o.transport}\``);
    if (!['token', 'cookie'].includes(o.credentials)) throw new TypeError(`HeraldClient: unknown credentials \`${o.credentials}\``);
    o.url = o.url.replace(/\/+$/, '');
    o.pollWaitSeconds = Math.max(0, Math.min(30, Math.floor(o.pollWaitSeconds)));
    this.#o = o;
    this.#last = options.lastEventId ?? null;
  }

  /** The id receiving resumes after: keep it to resume on a later page with `lastEventId`. */
  get lastEventId() {
    return this.#last;
  }

  /** The transport in use: `sse`, `poll`, or `null` when stopped. */
  get transport() {
    return this.#transport;
  }

  /** @returns {State} */
  get state() {
    return this.#state;
  }

  /** Starts receiving. Calling it while started does nothing. */
  start() {
    if (this.#state !== 'stopped' && this.#state !== 'failed') return;
    const run = ++this.#run;
    this.#preOpenFailures = 0;
    this.#emptyDrops = 0;
    this.#sseBuffered = false;
    this.#setState('connecting', this.#initialTransport());
    this.#scheduleRefresh();
    void this.#begin(run);
  }

  /** Stops receiving: closes the stream, aborts polling, cancels timers. */
  stop() {
    this.#run++;
    this.#halt();
    this.#setState('stopped', null);
  }

  /**
   * Marks notifications read for the token's user: some ids, or every one up to an id.
   * @param {{ids: number[]} | {upTo: number}} which
   * @returns {Promise<void>}
   */
  async markRead(which) {
    const body = 'ids' in which ? { ids: which.ids } : { up_to: which.upTo };
    await this.#request('POST', 'notifications/read', { body });
  }

  /**
   * The user's unread notifications on the client's channels. `capped` means
   * there are at least `count`.
   * @returns {Promise<{count: number, capped: boolean}>}
   */
  async unreadCount() {
    const res = /** @type {{count: number, capped: boolean}} */ (
      await this.#request('GET', 'notifications/unread', { query: {} })
    );
    return { count: res.count, capped: Boolean(res.capped) };
  }

  // ---- the run -----------------------------------------------------------

  /** @returns {Transport} */
  #initialTransport() {
    if (this.#o.transport === 'poll' || typeof EventSource === 'undefined') return 'poll';
    return 'sse';
  }

  /** @param {number} run */
  async #begin(run) {
    if (this.#last === null) {
      // Take the current position first: a stream that fails before it
      // opens, then polling, must still start from the moment of start().
      try {
        const page = await this.#fetchPage({ after: undefined, wait: 0, limit: 1 });
        if (run !== this.#run) return;
        if (this.#last === null) this.#last = page.next;
      } catch (e) {
        if (run !== this.#run) return;
        const err = asError(e);
        this.#report(err);
        if (!err.retryable) return this.#fail(err);
        // Go on: SSE may still work, and it starts from now.
      }
    }
    if (run !== this.#run) return;
    if (this.#initialTransport() === 'poll') this.#startPolling();
    else void this.#openStream(run, false);
  }

  /** Closes everything a run holds. */
  #halt() {
    this.#closeStream();
    this.#stopPolling();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#quietTimer = this.#refreshTimer = this.#sseRetryTimer = this.#reconnectTimer = null;
  }

  /** @param {HeraldError} err */
  #fail(err) {
    this.#run++;
    this.#halt();
    this.#setState('failed', null, { error: err });
  }

  /**
   * @param {State} state
   * @param {Transport | null} transport
   * @param {{error?: HeraldError, retryInMs?: number, reason?: string}} [extra]
   */
  #setState(state, transport, extra = {}) {
    const changed = state !== this.#state || transport !== this.#transport;
    this.#state = state;
    this.#transport = transport;
    if (!changed && !extra.error) return;
    /** @type {Status} */
    const status = { state, transport, lastEventId: this.#last, ...extra };
    this.#call(this.#o.onStatus, status);
  }

  /** @param {HeraldError} err */
  #report(err) {
    this.#call(this.#o.onError, err);
  }

  /**
   * Calls an application callback; its exceptions do not break the client.
   * @template T
   * @param {((arg: T) => void) | undefined} fn
   * @param {T} arg
   */
  #call(fn, arg) {
    if (!fn) return;
    try {
      fn(arg);
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  /**
   * Delivers a notification unless it was already delivered (ids only increase).
   * @param {Notification} n
   */
  #deliver(n) {
    if (typeof n.id !== 'number') return;
    if (this.#last !== null && n.id <= this.#last) return;
    this.#last = n.id;
    this.#call(this.#o.onNotification, n);
  }

  /**
   * A timer that dies with the run.
   * @param {number} run
   * @param {number} ms
   * @param {() => void} fn
   */
  #later(run, ms, fn) {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (run === this.#run) fn();
    }, Math.max(0, ms));
    this.#timers.add(t);
    return t;
  }

  /** @param {ReturnType<typeof setTimeout> | null} t */
  #cancel(t) {
    if (t === null) return;
    clearTimeout(t);
    this.#timers.delete(t);
  }

  /** @param {number} attempt 1 for the first retry */
  #backoff(attempt) {
    const ceiling = Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  // ---- tokens ------------------------------------------------------------

  /**
   * The current token, asking the callback for one when there is none, it
   * is about to expire, or `force` is set. Concurrent callers share one call.
   * @param {boolean} [force]
   * @returns {Promise<string>}
   */
  #getToken(force = false) {
    if (!force && this.#token !== null && !this.#tokenExpiring()) return Promise.resolve(this.#token);
    if (this.#tokenPending) return this.#tokenPending;
    const pending = (async () => {
      /** @type {unknown} */
      let t;
      try {
        t = await this.#o.token();
      } catch (e) {
        throw new HeraldError(`the token callback failed: ${e instanceof Error ? e.message : String(e)}`, { kind: 'token', cause: e });
      }
      if (typeof t !== 'string' || t === '') throw new HeraldError('the token callback returned no token', { kind: 'token' });
      this.#setToken(t);
      return t;
    })();
    this.#tokenPending = pending;
    const clear = () => {
      if (this.#tokenPending === pending) this.#tokenPending = null;
    };
    pending.then(clear, clear);
    return pending;
  }

  /** Expired, or expiring within a second. */
  #tokenExpiring() {
    return this.#tokenExp !== null && Date.now() >= this.#tokenExp * 1000 - 1000;
  }

  /** @param {string} t */
  #setToken(t) {
    this.#token = t;
    this.#tokenExp = tokenExpiry(t);
    this.#tokenAt = Date.now();
    this.#scheduleRefresh();
  }

  /** While running, refreshes the token shortly before it expires. */
  #scheduleRefresh() {
    this.#cancel(this.#refreshTimer);
    this.#refreshTimer = null;
    if (this.#tokenExp === null || this.#state === 'stopped' || this.#state === 'failed') return;
    const expiresAt = this.#tokenExp * 1000;
    const lifetime = expiresAt - this.#tokenAt;
    const margin = this.#o.refreshMarginMs ?? Math.min(30_000, lifetime / 5);
    const run = this.#run;
    this.#refreshTimer = this.#later(run, Math.max(500, expiresAt - margin - Date.now()), () => {
      this.#refreshTimer = null;
      void this.#refresh(run, 0);
    });
  }

  /**
   * Gets a new token before the current one expires; a stream reconnects
   * with it (a stream's token is fixed when it opens), polling just uses it.
   * @param {number} run
   * @param {number} failures
   */
  async #refresh(run, failures) {
    try {
      await this.#getToken(true);
      if (this.#o.credentials === 'cookie') await this.#ensureSession();
    } catch (e) {
      if (run !== this.#run) return;
      const err = asError(e);
      this.#report(err);
      // The open stream or poll will meet the expiry and retry through its own path.
      this.#refreshTimer = this.#later(run, this.#backoff(failures + 1), () => void this.#refresh(run, failures + 1));
      return;
    }
    if (run !== this.#run) return;
    if (this.#es && this.#transport === 'sse') {
      this.#closeStream();
      void this.#openStream(run, false);
    }
  }

  /** In cookie mode: has Herald set its session cookie from the current token. */
  async #ensureSession() {
    const token = await this.#getToken();
    if (this.#sessionToken === token) return;
    for (let attempt = 0; ; attempt++) {
      const t = attempt === 0 ? token : await this.#getToken(true);
      const res = await this.#fetch('POST', this.#endpoint('session'), {
        headers: { Authorization: `Bearer ${t}` },
        credentials: 'include',
      });
      if (res.ok) {
        this.#sessionToken = t;
        return;
      }
      const err = await problem(res);
      if (res.status !== 401 || attempt > 0) throw err;
    }
  }

  // ---- HTTP --------------------------------------------------------------

  /** @param {string} path */
  #endpoint(path) {
    return `${this.#o.url}/v1/tenants/${encodeURIComponent(this.#o.tenant)}/${path}`;
  }

  /**
   * @param {string} method
   * @param {string} url
   * @param {RequestInit & {timeoutMs?: number}} init
   */
  async #fetch(method, url, init) {
    const { timeoutMs, signal, ...rest } = init;
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal?.addEventListener('abort', onAbort);
    const timer = timeoutMs ? setTimeout(() => ctl.abort(), timeoutMs) : null;
    try {
      return await fetch(url, { ...rest, method, signal: ctl.signal, cache: 'no-store' });
    } catch (e) {
      if (signal?.aborted) throw e;
      const what = ctl.signal.aborted ? 'timed out' : e instanceof Error ? e.message : String(e);
      throw new HeraldError(`${method} ${url}: ${what}`, { kind: 'network', cause: e });
    } finally {
      if (timer !== null) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * An authenticated request to a tenant endpoint; on `401` it gets a new
   * token (and session cookie) once and retries.
   * @param {string} method
   * @param {string} path below `/v1/tenants/{tenant}/`
   * @param {RequestInit2} init `query` gets the client's channels added
   * @returns {Promise<unknown>} the JSON answer, or `null` for 204
   */
  async #request(method, path, init) {
    const cookie = this.#o.credentials === 'cookie';
    let url = this.#endpoint(path);
    if (init.query) {
      const q = new URLSearchParams();
      for (const c of this.#o.channels) q.append('channel', c);
      for (const [k, v] of Object.entries(init.query)) if (v !== undefined) q.set(k, String(v));
      url += `?${q}`;
    }
    for (let attempt = 0; ; attempt++) {
      /** @type {Record<string, string>} */
      const headers = {};
      if (cookie) await this.#ensureSession();
      else headers.Authorization = `Bearer ${await this.#getToken(attempt > 0)}`;
      if (init.body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await this.#fetch(method, url, {
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        credentials: cookie ? 'include' : 'omit',
        signal: init.signal,
        timeoutMs: init.timeoutMs ?? 30_000,
      });
      if (res.ok) {
        if (res.status === 204) return null;
        const text = await res.text();
        return text ? JSON.parse(text) : null;
      }
      const err = await problem(res);
      if (res.status !== 401 || attempt > 0) throw err;
      // Expired or revoked: one more try with a new token.
      if (cookie) {
        await this.#getToken(true);
      }
    }
  }

  /**
   * One poll of the notifications after `after` (from now when undefined).
   * @param {{after: number | undefined, wait: number, limit: number, signal?: AbortSignal}} p
   * @returns {Promise<PollPage>}
   */
  async #fetchPage(p) {
    const body = await this.#request('GET', 'notifications', {
      query: { after: p.after, limit: p.limit, wait: p.wait },
      signal: p.signal,
      timeoutMs: (p.wait + 15) * 1000,
    });
    const page = /** @type {Partial<PollPage> | null} */ (body);
    if (!page || !Array.isArray(page.items) || typeof page.next !== 'number') {
      throw new HeraldError('Herald answered a poll with an unexpected body', { kind: 'problem', status: 200 });
    }
    return { items: page.items, next: page.next, more: Boolean(page.more), truncated: Boolean(page.truncated) };
  }

  // ---- SSE ---------------------------------------------------------------

  /**
   * Opens a stream resuming after the last id. `trial` is an attempt made
   * while polling: polling goes on until the stream opens, then stops.
   * @param {number} run
   * @param {boolean} trial
   */
  async #openStream(run, trial) {
    const cookie = this.#o.credentials === 'cookie';
    const q = new URLSearchParams();
    for (const c of this.#o.channels) q.append('channel', c);
    // Every notification as an unnamed `message` event (its type is in the data).
    q.set('events', 'message');
    try {
      if (cookie) await this.#ensureSession();
      else q.set('access_token', await this.#getToken());
    } catch (e) {
      if (run !== this.#run) return;
      return this.#streamFailed(run, trial, false, asError(e));
    }
    if (run !== this.#run) return;
    if (this.#last !== null) q.set('last_event_id', String(this.#last));
    if (!trial) this.#setState('connecting', 'sse');

    const es = new EventSource(`${this.#endpoint('stream')}?${q}`, { withCredentials: cookie });
    this.#closeStream();
    this.#es = es;
    let opened = false;
    const current = () => run === this.#run && this.#es === es;

    es.onopen = () => {
      if (!current()) return;
      opened = true;
      this.#preOpenFailures = 0;
      this.#cancel(this.#sseRetryTimer);
      this.#sseRetryTimer = null;
      const wasPolling = this.#poll !== null;
      // The stream resumes after the last id: polling can stop now.
      this.#stopPolling();
      this.#setState('open', 'sse', wasPolling ? { reason: 'sse-restored' } : {});
      this.#armQuiet(run, es);
    };
    es.onmessage = (ev) => {
      if (!current()) return;
      const n = parse(ev.data);
      if (!n) return;
      this.#emptyDrops = 0;
      this.#deliver(/** @type {Notification} */ (n));
      this.#armQuiet(run, es);
    };
    es.addEventListener('history-truncated', (ev) => {
      if (!current()) return;
      const d = parse(/** @type {MessageEvent} */ (ev).data);
      const after = d && typeof d.last_event_id === 'number' ? d.last_event_id : (this.#last ?? 0);
      this.#call(this.#o.onHistoryTruncated, { lastEventId: after });
    });
    es.addEventListener('token-expired', () => {
      if (!current()) return;
      // Herald closes the stream after this event: reconnect with a new token.
      this.#closeStream();
      this.#setState('connecting', 'sse');
      this.#getToken(true).then(
        () => {
          if (run === this.#run) void this.#openStream(run, false);
        },
        (e) => {
          if (run === this.#run) this.#streamFailed(run, false, true, asError(e));
        },
      );
    });
    es.onerror = () => {
      if (!current()) return;
      const closed = es.readyState === EventSource.CLOSED;
      this.#closeStream();
      const err = new HeraldError(
        opened ? 'the event stream dropped' : closed ? 'the event stream was refused' : 'the event stream could not connect',
        { kind: 'stream' },
      );
      if (opened) this.#streamDropped(run, err);
      else this.#streamFailed(run, trial, closed, err);
    };
  }

  #closeStream() {
    this.#cancel(this.#quietTimer);
    this.#quietTimer = null;
    if (!this.#es) return;
    this.#es.onopen = this.#es.onmessage = this.#es.onerror = null;
    this.#es.close();
    this.#es = null;
  }

  /**
   * A stream failed before it opened.
   * @param {number} run
   * @param {boolean} trial an attempt made while polling
   * @param {boolean} refused EventSource closed for good (an HTTP error, or CORS)
   * @param {HeraldError} err
   */
  #streamFailed(run, trial, refused, err) {
    this.#report(err);
    if (!err.retryable) return this.#fail(err);
    if (trial) return this.#scheduleSseRetry(run);
    this.#preOpenFailures++;
    if (this.#o.transport === 'auto' && (refused || this.#preOpenFailures >= 2)) {
      return this.#switchToPoll(run, 'sse-failed', err);
    }
    // SSE only, or a first failure: the token is the usual suspect of a refusal.
    if (refused && this.#o.credentials === 'token') this.#tokenExp = 0;
    if (refused && this.#o.credentials === 'cookie') this.#sessionToken = null;
    this.#reconnectStream(run, this.#preOpenFailures, err);
  }

  /**
   * An open stream ended (server restart, lagging subscriber, network).
   * @param {number} run
   * @param {HeraldError} err
   */
  #streamDropped(run, err) {
    this.#emptyDrops++;
    if (this.#o.transport === 'auto' && this.#emptyDrops >= MAX_EMPTY_DROPS) {
      this.#emptyDrops = 0;
      return this.#switchToPoll(run, 'sse-failed', err);
    }
    // The first reconnection is quick; repeated empty drops back off.
    this.#reconnectStream(run, this.#emptyDrops, err);
  }

  /**
   * @param {number} run
   * @param {number} attempt
   * @param {HeraldError} err
   */
  #reconnectStream(run, attempt, err) {
    const delay = this.#backoff(attempt);
    this.#setState('reconnecting', 'sse', { error: err, retryInMs: delay });
    this.#cancel(this.#reconnectTimer);
    this.#reconnectTimer = this.#later(run, delay, () => {
      this.#reconnectTimer = null;
      void this.#openStream(run, false);
    });
  }

  /**
   * Restarts the quiet timer of an open stream: after `bufferProbeMs` with
   * no event, check whether the stream is held back by a proxy.
   * @param {number} run
   * @param {EventSource} es
   */
  #armQuiet(run, es) {
    this.#cancel(this.#quietTimer);
    this.#quietTimer = null;
    if (this.#o.transport !== 'auto' || !(this.#o.bufferProbeMs > 0)) return;
    this.#quietTimer = this.#later(run, this.#o.bufferProbeMs, () => {
      this.#quietTimer = null;
      void this.#probeBuffering(run, es);
    });
  }

  /**
   * One non-waiting poll after the last id: if it returns a notification
   * that the open stream has not delivered within a grace period, a proxy
   * buffers the stream, and the client switches to polling for good.
   * @param {number} run
   * @param {EventSource} es
   */
  async #probeBuffering(run, es) {
    const current = () => run === this.#run && this.#es === es;
    if (this.#last === null) return;
    /** @type {PollPage} */
    let page;
    try {
      page = await this.#fetchPage({ after: this.#last, wait: 0, limit: 1 });
    } catch (e) {
      if (current()) this.#armQuiet(run, es);
      return;
    }
    if (!current()) return;
    const first = page.items[0];
    if (!first || (this.#last !== null && first.id <= this.#last)) return this.#armQuiet(run, es);
    this.#quietTimer = this.#later(run, PROBE_GRACE_MS, () => {
      this.#quietTimer = null;
      if (!current()) return;
      if (this.#last !== null && this.#last >= first.id) return this.#armQuiet(run, es);
      this.#sseBuffered = true;
      this.#closeStream();
      this.#switchToPoll(run, 'sse-buffered', new HeraldError('the event stream is held back (a buffering proxy?)', { kind: 'stream' }));
    });
  }

  // ---- long-polling ------------------------------------------------------

  /**
   * @param {number} run
   * @param {string} reason
   * @param {HeraldError} err
   */
  #switchToPoll(run, reason, err) {
    this.#closeStream();
    this.#cancel(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#setState('connecting', 'poll', { reason, error: err });
    this.#startPolling();
    this.#scheduleSseRetry(run);
  }

  /** @param {number} run */
  #scheduleSseRetry(run) {
    if (this.#o.transport !== 'auto' || this.#sseBuffered || typeof EventSource === 'undefined') return;
    this.#cancel(this.#sseRetryTimer);
    this.#sseRetryTimer = this.#later(run, this.#o.sseRetryMs, () => {
      this.#sseRetryTimer = null;
      if (this.#poll !== null) void this.#openStream(run, true);
    });
  }

  #startPolling() {
    if (this.#poll) return;
    const ctl = new AbortController();
    this.#poll = ctl;
    void this.#pollLoop(this.#run, ctl);
  }

  #stopPolling() {
    if (!this.#poll) return;
    this.#poll.abort();
    this.#poll = null;
  }

  /**
   * @param {number} run
   * @param {AbortController} ctl
   */
  async #pollLoop(run, ctl) {
    const live = () => run === this.#run && !ctl.signal.aborted;
    let failures = 0;
    // The first poll, and the first after a failure, does not wait: the
    // client knows at once that polling works (and says `open`).
    let confirmed = false;
    while (live()) {
      const started = Date.now();
      const wait = confirmed ? this.#o.pollWaitSeconds : 0;
      /** @type {PollPage} */
      let page;
      try {
        page = await this.#fetchPage({ after: this.#last ?? undefined, wait, limit: 100, signal: ctl.signal });
      } catch (e) {
        if (!live()) return;
        const err = asError(e);
        this.#report(err);
        if (!err.retryable) return this.#fail(err);
        failures++;
        confirmed = false;
        const delay = this.#backoff(failures);
        this.#setState('reconnecting', 'poll', { error: err, retryInMs: delay });
        await sleep(delay, ctl.signal);
        continue;
      }
      if (!live()) return;
      failures = 0;
      confirmed = true;
      if (this.#state !== 'open') this.#setState('open', 'poll');
      if (page.truncated) this.#call(this.#o.onHistoryTruncated, { lastEventId: this.#last ?? 0 });
      for (const n of page.items) {
        if (!live()) return;
        this.#deliver(n);
      }
      if (!live()) return;
      if (this.#last === null || page.next > this.#last) this.#last = page.next;
      // A server that does not wait must not make this a busy loop.
      if (!page.more && page.items.length === 0 && wait > 0 && Date.now() - started < 1000) await sleep(1000, ctl.signal);
    }
  }
}

// ---- helpers ---------------------------------------------------------------

/**
 * @template {object} T
 * @param {T} o
 * @returns {T}
 */
function stripUndefined(o) {
  return /** @type {T} */ (Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
}

/**
 * @param {unknown} text
 * @returns {Record<string, unknown> | null}
 */
function parse(text) {
  if (typeof text !== 'string') return null;
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

/**
 * A HeraldError from an error answer (`application/problem+json` when Herald sent it).
 * @param {Response} res
 */
async function problem(res) {
  /** @type {Record<string, unknown> | null} */
  let body = null;
  try {
    body = parse(await res.text());
  } catch {
    // No body.
  }
  /** @param {string} k */
  const str = (k) => (body && typeof body[k] === 'string' ? /** @type {string} */ (body[k]) : undefined);
  const title = str('title') ?? res.statusText ?? 'error';
  const detail = str('detail');
  return new HeraldError(`Herald answered ${res.status} ${title}${detail ? `: ${detail}` : ''}`, {
    kind: 'problem',
    status: res.status,
    type: str('type'),
    title,
    detail,
  });
}

/** @param {unknown} e */
function asError(e) {
  if (e instanceof HeraldError) return e;
  return new HeraldError(e instanceof Error ? e.message : String(e), { kind: 'network', cause: e });
}

/**
 * @param {number} ms
 * @param {AbortSignal} signal
 * @returns {Promise<void>}
 */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
