// @ts-check
/**
 * `<hx-secret label="API key">`: a read-only secret with a copy button.
 * @module secret
 */

import { h } from './dom.js';

export class SecretField extends HTMLElement {
  #value = '';

  get value() {
    return this.#value;
  }

  set value(v) {
    this.#value = v;
    this.#render();
  }

  connectedCallback() {
    this.#render();
  }

  #render() {
    if (!this.isConnected) return;
    const input = h('input', { type: 'text', readOnly: true, value: this.#value, class: 'mono secret', spellcheck: false, autocomplete: 'off' });
    input.id = `secret-${Math.random().toString(36).slice(2)}`;
    const status = h('span', { class: 'copy-status', 'aria-live': 'polite' });
    const copy = h('button', {
      type: 'button',
      text: 'Copy',
      onclick: async () => {
        status.textContent = (await copyText(this.#value, input)) ? 'Copied' : 'Select the text and copy it';
      },
    });
    this.replaceChildren(
      h('label', { for: input.id, text: this.getAttribute('label') ?? 'Secret' }),
      h('div', { class: 'secret-row' }, input, copy, status),
    );
  }
}

/**
 * Copies text to the clipboard; falls back to selecting it.
 * @param {string} text
 * @param {HTMLInputElement} input
 */
async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.select();
    return false;
  }
}

customElements.define('hx-secret', SecretField);
