// @ts-check
/**
 * Cursor paging for Herald's lists: keeps the cursors seen so far so the
 * user can go back, and renders "Previous"/"Next" buttons.
 * @module pager
 */

import { h } from './dom.js';

export class Pager {
  /** @type {(string | null)[]} cursors of the pages before the current one */
  #stack = [];
  /** @type {string | null} */
  after = null;
  /** @type {string | null} */
  next = null;

  /** @param {() => void} reload called after the cursor moved */
  constructor(reload) {
    this.reload = reload;
  }

  reset() {
    this.#stack = [];
    this.after = null;
    this.next = null;
  }

  get pageNumber() {
    return this.#stack.length + 1;
  }

  /** @param {string} label what is paged, for the buttons' names */
  controls(label) {
    const prev = h('button', {
      type: 'button',
      class: 'secondary',
      text: 'Previous page',
      'aria-label': `Previous page of ${label}`,
      disabled: this.#stack.length === 0,
      onclick: () => {
        this.after = this.#stack.pop() ?? null;
        this.reload();
      },
    });
    const next = h('button', {
      type: 'button',
      class: 'secondary',
      text: 'Next page',
      'aria-label': `Next page of ${label}`,
      disabled: !this.next,
      onclick: () => {
        this.#stack.push(this.after);
        this.after = this.next;
        this.reload();
      },
    });
    return h('nav', { class: 'pager', 'aria-label': `Pages of ${label}` }, prev, h('span', { text: `Page ${this.pageNumber}` }), next);
  }
}
