// @ts-check
/**
 * A small typed wrapper over Herald's HTTP API for the admin console: it
 * sends the Bearer key, encodes JSON, and turns `application/problem+json`
 * answers into an `ApiError` the screens show as they are.
 *
 * @module api
 */

/** @typedef {{items: any[], next: string | null}} RawPage */

/**
 * @template T
 * @typedef {object} Page
 * @property {T[]} items
 * @property {string | null} next Cursor of the next page (pass it as `after`), or `null` on the last page.
 */

/**
 * @typedef {object} Tenant
 * @property {string} id
 * @property {string} name
 * @property {string} created_at
 * @property {boolean} [suspended] Present once the server supports suspending tenants.
 */

/**
 * @typedef {object} Retention
 * @property {number | null} [max_count]
 * @property {number | null} [max_age_seconds]
 */

/**
 * @typedef {object} ChainStep
 * @property {string} plugin
 * @property {string | null} [version]
 * @property {unknown} [config]
 * @property {number | null} [deadline_ms]
 */

/**
 * @typedef {object} EmailPolicy
 * @property {number} [after_seconds]
 * @property {number} [digest_seconds]
 * @property {string | null} [subject]
 * @property {string | null} [text]
 * @property {string | null} [html]
 */

/**
 * @typedef {object} Channel
 * @property {string} id
 * @property {string} name
 * @property {Retention} retention
 * @property {ChainStep[]} plugins
 * @property {'fail-open' | 'fail-closed'} failure_policy
 * @property {EmailPolicy | null} email
 * @property {string} created_at
 */

/**
 * @typedef {object} ApiKey
 * @property {string} id
 * @property {string} name
 * @property {string[]} scopes
 * @property {string} created_at
 * @property {string} [secret] Only in the answer that created it.
 */

/**
 * @typedef {object} SigningKey
 * @property {string} kid
 * @property {string} alg
 * @property {string | null} [public_key]
 * @property {string | null} [secret] HS256 only, and only in the answer that created it.
 * @property {string} created_at
 */

/**
 * @typedef {object} CallStats
 * @property {number} calls
 * @property {number} ok
 * @property {number} traps
 * @property {number} timeouts
 * @property {number} out_of_fuel
 * @property {number} memory_exceeded
 * @property {number} invalid_output
 * @property {number} other_errors
 * @property {number} mean_us
 */

/**
 * @typedef {object} PluginVersion
 * @property {string} id
 * @property {string} name
 * @property {string} version
 * @property {string} sha256
 * @property {number} size
 * @property {{publish: boolean, deliver: boolean}} hooks
 * @property {string} created_at
 * @property {CallStats} [stats]
 */

/**
 * @typedef {object} TestResult
 * @property {'keep' | 'replace' | 'drop' | 'error'} decision
 * @property {unknown} [notification]
 * @property {string | null} [reason]
 * @property {{kind: string, message: string} | null} [error]
 * @property {number} duration_us
 * @property {string} version
 */

/**
 * @typedef {object} HistoryItem
 * @property {number} id
 * @property {string} channel
 * @property {string} type
 * @property {unknown} data
 * @property {string[] | null} [recipients]
 * @property {string} created_at
 */

/**
 * @typedef {object} Delivery
 * @property {string} id
 * @property {string} user
 * @property {number} notification
 * @property {string} channel
 * @property {'stream' | 'poll' | 'email'} path
 * @property {string} status
 * @property {string | null} [error]
 * @property {string | null} [email]
 * @property {number} attempt
 * @property {string} at
 */

/**
 * @typedef {object} DeadLetter
 * @property {string} id
 * @property {string} channel
 * @property {string} plugin
 * @property {'publish' | 'deliver'} hook
 * @property {'dropped' | 'failed'} outcome
 * @property {string} reason
 * @property {Record<string, unknown>} notification
 * @property {string} created_at
 */

/**
 * @typedef {object} Recipient
 * @property {string} user
 * @property {string} email
 * @property {string | null} [locale]
 * @property {{email: {channels: 'all' | 'none' | string[], unsubscribed: string[]}}} preferences
 * @property {string} created_at
 * @property {string} updated_at
 */

/**
 * @typedef {object} Quotas
 * @property {number | null} publishes_per_second
 * @property {number | null} max_connections
 * @property {number | null} max_stored_notifications
 * @property {number | null} emails_per_day
 */

/**
 * @typedef {object} MercureSettings A tenant's Mercure hub; never the HS256 secret.
 * @property {'HS256' | 'RS256' | 'ES256' | 'EdDSA'} jwt_alg
 * @property {string | null} public_key The PEM public key; null for HS256.
 * @property {string} issuer
 * @property {string} audience
 * @property {boolean} anonymous
 * @property {string[]} cors_origins
 * @property {boolean} compat_0x
 * @property {string} hub_path Where the hub is, relative to Herald's base URL.
 */

/**
 * @typedef {object} AllowedOrigins
 * @property {string[]} origins
 */

/**
 * @typedef {object} RefusedOrigin
 * @property {string} origin As the browser sent it.
 * @property {number} count
 * @property {string} last_at
 * @property {boolean} allowable Whether it is a valid origin to allow.
 */

/**
 * @typedef {object} OriginRefusals This node's cross-origin refusals for a tenant, since it started.
 * @property {number} refused
 * @property {RefusedOrigin[]} recent Most recent first.
 */

/** @typedef {{total: number, per_second_10s: number, per_second_60s: number}} Rate */
/** @typedef {{total: number, sse: number, long_poll: number}} Connections */

/**
 * @typedef {object} TenantStats
 * @property {string} tenant
 * @property {number} uptime_seconds
 * @property {Connections} connections
 * @property {{pattern: string, connections: number}[]} connections_by_pattern
 * @property {Rate} published
 * @property {Rate} delivered
 * @property {{sent: number, failed: number, deferred: number, cancelled: number, delivered: number}} emails_24h
 * @property {{call_errors_on_node: number, dead_letters_24h: Record<string, number>}} plugins
 * @property {Quotas} quotas
 */

/**
 * @typedef {object} SystemStats
 * @property {number} uptime_seconds
 * @property {{tenants: number, connections: Connections, published: Rate, delivered: Rate}} totals
 * @property {{tenant: string, connections: Connections, published: Rate, delivered: Rate}[]} tenants
 */

/** An error answer from Herald (`application/problem+json`), or a failure to reach it. */
export class ApiError extends Error {
  /**
   * @param {object} fields
   * @param {number} fields.status HTTP status; 0 when Herald could not be reached.
   * @param {string} fields.type Problem type, e.g. `urn:herald:problem:validation`.
   * @param {string} fields.title
   * @param {string} [fields.detail]
   */
  constructor({ status, type, title, detail }) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.title = title;
    /** @type {string | undefined} */
    this.detail = detail;
  }

  /** The problem code, e.g. `validation` for `urn:herald:problem:validation`. */
  get code() {
    return this.type.replace(/^urn:herald:problem:/, '');
  }
}

/**
 * @typedef {object} RequestOptions
 * @property {Record<string, string | number | boolean | null | undefined>} [query] Empty values are left out.
 * @property {unknown} [json] A body sent as JSON.
 * @property {Blob} [blob] A raw body (with `contentType`).
 * @property {string} [contentType]
 * @property {AbortSignal} [signal]
 */

/** Encodes one path segment (a tenant id, a channel name, a user id). */
export const seg = (/** @type {string} */ s) => encodeURIComponent(s);

/** Herald's API as one credential sees it. */
export class Api {
  /**
   * @param {string} key The operator key or a tenant's admin API key.
   * @param {string} [base] Herald's origin; the page's own by default.
   */
  constructor(key, base = '') {
    this.key = key;
    this.base = base;
  }

  /**
   * Sends one request; resolves to the parsed JSON (or `null` for an empty
   * answer) and rejects with an `ApiError`.
   * @param {string} method
   * @param {string} path starting with `/v1/`
   * @param {RequestOptions} [opts]
   * @returns {Promise<any>}
   */
  async request(method, path, opts = {}) {
    const url = new URL(this.base + path, location.origin);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
    }
    /** @type {Record<string, string>} */
    const headers = { Authorization: `Bearer ${this.key}`, Accept: 'application/json, application/problem+json' };
    /** @type {BodyInit | undefined} */
    let body;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.blob) {
      headers['Content-Type'] = opts.contentType ?? 'application/octet-stream';
      body = opts.blob;
    }
    /** @type {Response} */
    let res;
    try {
      res = await fetch(url, { method, headers, body, signal: opts.signal, cache: 'no-store' });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError({ status: 0, type: 'network', title: 'Herald could not be reached', detail: String(e) });
    }
    const text = await res.text();
    if (!res.ok) throw problem(res, text);
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError({ status: res.status, type: 'bad-response', title: 'Unreadable answer', detail: text.slice(0, 200) });
    }
  }

  /** @param {string} path @param {RequestOptions['query']} [query] @param {AbortSignal} [signal] */
  get(path, query, signal) {
    return this.request('GET', path, { query, signal });
  }
  /** @param {string} path @param {unknown} json @param {RequestOptions['query']} [query] */
  post(path, json, query) {
    return this.request('POST', path, { json, query });
  }
  /** @param {string} path @param {unknown} json */
  put(path, json) {
    return this.request('PUT', path, { json });
  }
  /** @param {string} path @param {unknown} json */
  patch(path, json) {
    return this.request('PATCH', path, { json });
  }
  /** @param {string} path @param {RequestOptions['query']} [query] */
  del(path, query) {
    return this.request('DELETE', path, { query });
  }

  /**
   * One page of a list endpoint.
   * @param {string} path
   * @param {{after?: string | null, limit?: number} & Record<string, string | number | null | undefined>} [query]
   * @returns {Promise<Page<any>>}
   */
  async page(path, query = {}) {
    const r = /** @type {RawPage} */ (await this.get(path, query));
    return { items: r.items ?? [], next: r.next ?? null };
  }

  /**
   * Every item of a list endpoint, following `next` up to `max` items.
   * @param {string} path
   * @param {Record<string, string | number | null | undefined>} [query]
   * @param {number} [max]
   * @returns {Promise<any[]>}
   */
  async all(path, query = {}, max = 5000) {
    /** @type {any[]} */
    const out = [];
    /** @type {string | null} */
    let after = null;
    do {
      const p = await this.page(path, { ...query, limit: 1000, after });
      out.push(...p.items);
      after = p.items.length ? p.next : null;
    } while (after && out.length < max);
    return out;
  }

  /** The path of a tenant's resource. @param {string} tenant @param {string} [rest] */
  static t(tenant, rest = '') {
    return `/v1/tenants/${seg(tenant)}${rest}`;
  }
}

/**
 * @param {Response} res
 * @param {string} text
 */
function problem(res, text) {
  /** @type {any} */
  let p = null;
  try {
    p = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy's page, or the HTTP parser's bare 400.
  }
  if (p && typeof p === 'object' && typeof p.title === 'string') {
    return new ApiError({ status: p.status ?? res.status, type: p.type ?? 'about:blank', title: p.title, detail: p.detail ?? undefined });
  }
  return new ApiError({ status: res.status, type: 'about:blank', title: res.statusText || `HTTP ${res.status}`, detail: text.slice(0, 200) || undefined });
}
