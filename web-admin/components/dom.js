// @ts-check
/**
 * DOM building without HTML strings: every text goes in as text, so data
 * from Herald can never become markup.
 * @module dom
 */

import { ApiError } from '../api.js';

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * Creates an element. `props`: `class`, `text`, `on<event>` handlers,
 * `dataset`, properties the element has (`value`, `checked`, `type`, ...),
 * and any other key as an attribute (`aria-*`, `for`, `role`).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any> | null} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k.includes('-') || k === 'for' || k === 'role' || k === 'list' || k === 'form' || !(k in el)) el.setAttribute(k, v === true ? '' : String(v));
    else /** @type {any} */ (el)[k] = v;
  }
  append(el, children);
  return el;
}

/**
 * @param {Node} parent
 * @param {(Child | Child[])[]} children
 */
export function append(parent, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. @param {Element} el @param {...(Child | Child[])} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let ids = 0;
/** A fresh element id. @param {string} prefix */
export const uid = (prefix) => `${prefix}-${++ids}`;

/**
 * A labelled form control: `<div class="field"><label for>…</label>control hint</div>`.
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const wrap = h('div', { class: control instanceof HTMLInputElement && control.type === 'checkbox' ? 'field check' : 'field' });
  const lab = h('label', { for: control.id, text: label });
  if (hint) {
    const hintEl = h('small', { class: 'hint', id: uid('hint'), text: hint });
    control.setAttribute('aria-describedby', hintEl.id);
    if (control instanceof HTMLInputElement && control.type === 'checkbox') append(wrap, [control, lab, hintEl]);
    else append(wrap, [lab, control, hintEl]);
  } else if (control instanceof HTMLInputElement && control.type === 'checkbox') {
    append(wrap, [control, lab]);
  } else {
    append(wrap, [lab, control]);
  }
  return wrap;
}

/**
 * A `<select>` of options.
 * @param {string} name
 * @param {(string | [string, string])[]} options values, or [value, label]
 * @param {string} [value]
 */
export function select(name, options, value) {
  const s = h('select', { name });
  for (const o of options) {
    const [v, l] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', { value: v, text: l, selected: v === value }));
  }
  return s;
}

/**
 * A message about an error: Herald's problem (status, title, detail and
 * type) or any other failure.
 * @param {unknown} err
 */
export function errorBox(err) {
  if (err instanceof ApiError) {
    return h(
      'div',
      { class: 'alert error', role: 'alert' },
      h('strong', { text: err.status ? `${err.status} ${err.title}` : err.title }),
      err.detail ? h('p', { class: 'detail', text: err.detail }) : null,
      h('p', { class: 'type' }, h('code', { text: err.type })),
    );
  }
  return h('div', { class: 'alert error', role: 'alert' }, h('strong', { text: 'Error' }), h('p', { class: 'detail', text: String(err instanceof Error ? err.message : err) }));
}

/** A success notice. @param {string} text */
export function okBox(text) {
  return h('div', { class: 'alert ok', role: 'status', text });
}

/**
 * Runs an action, showing its error (or `done`) in `out`; disables `button` meanwhile.
 * @template T
 * @param {Element} out where the outcome goes
 * @param {() => Promise<T>} fn
 * @param {{button?: HTMLButtonElement | null, done?: string | ((r: T) => string)}} [opts]
 * @returns {Promise<T | undefined>}
 */
export async function attempt(out, fn, opts = {}) {
  const { button, done } = opts;
  if (button) button.disabled = true;
  out.replaceChildren();
  try {
    const r = await fn();
    if (done) out.replaceChildren(okBox(typeof done === 'function' ? done(r) : done));
    return r;
  } catch (e) {
    out.replaceChildren(errorBox(e));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** An outcome area for `attempt`. */
export const outlet = () => h('div', { class: 'outlet', 'aria-live': 'polite' });

/** A date for people, in their locale; the exact value in the title. @param {string} iso */
export function time(iso) {
  const d = new Date(iso);
  return h('time', { dateTime: iso, title: iso, text: Number.isNaN(d.getTime()) ? iso : d.toLocaleString() });
}

/** Pretty JSON. @param {unknown} v */
export const json = (v) => JSON.stringify(v, null, 2);

/**
 * Parses a JSON text field; throws an Error naming the field.
 * @param {string} label
 * @param {string} text
 * @param {unknown} [empty] the value of an empty field
 */
export function parseJson(label, text, empty) {
  if (!text.trim()) return empty;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${label} is not valid JSON: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * An optional whole number from an input ('' → null).
 * @param {string} label
 * @param {string} text
 */
export function optInt(label, text) {
  const t = text.trim();
  if (!t) return null;
  const n = Number(t);
  if (!Number.isInteger(n)) throw new Error(`${label} must be a whole number`);
  return n;
}

/**
 * A table with a header row.
 * @param {string} caption
 * @param {string[]} headers
 * @param {(Child | Child[])[][]} rows
 * @param {string} [empty] shown when there are no rows
 */
export function table(caption, headers, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty', text: empty });
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      null,
      h('caption', { class: 'visually-hidden', text: caption }),
      h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c))))),
    ),
  );
}

/** A section with a heading. @param {string} title @param {...(Child | Child[])} children */
export function section(title, ...children) {
  const id = uid('sec');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, text: title }), ...children);
}

/**
 * A button.
 * @param {string} text
 * @param {(ev: MouseEvent) => void} onclick
 * @param {string} [cls]
 */
export const button = (text, onclick, cls = '') => h('button', { type: 'button', class: cls, text, onclick });

/** A link. @param {string} href @param {string} text @param {string} [cls] */
export const link = (href, text, cls) => h('a', { href, text, class: cls });
