// @ts-check
/**
 * Modal dialogs on the native `<dialog>`: `showModal()` makes the rest of
 * the page inert (focus stays inside), Escape closes it, and focus returns
 * to where it was.
 * @module dialog
 */

import { h, append } from './dom.js';
import './secret.js';

/**
 * Opens a modal dialog and resolves to the value it closes with
 * (`''` for Escape or Cancel).
 * @param {object} opts
 * @param {string} opts.title
 * @param {(import('./dom.js').Child | import('./dom.js').Child[])[]} opts.body
 * @param {{label: string, value: string, cls?: string}[]} opts.actions the default action first
 * @param {(value: string, form: HTMLFormElement) => boolean | Promise<boolean>} [opts.beforeClose] return false to keep it open
 * @returns {Promise<string>}
 */
export function openDialog({ title, body, actions, beforeClose }) {
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const form = h('form', { method: 'dialog' });
  const dialog = h('dialog', { 'aria-labelledby': titleId, class: 'modal' }, form);
  append(form, [
    h('h2', { id: titleId, text: title }),
    h('div', { class: 'dialog-body' }, ...body),
    h(
      'div',
      { class: 'actions' },
      actions.map((a) => h('button', { type: 'submit', value: a.value, class: a.cls ?? '', text: a.label })),
      h('button', { type: 'submit', value: '', formNoValidate: true, text: 'Cancel', class: 'secondary', dataset: { cancel: '' } }),
    ),
  ]);
  if (actions.length === 0) form.querySelector('[data-cancel]')?.replaceChildren('Close');
  document.body.append(dialog);
  return new Promise((resolve) => {
    form.addEventListener('submit', async (ev) => {
      const submitter = /** @type {HTMLButtonElement | null} */ (/** @type {SubmitEvent} */ (ev).submitter);
      const value = submitter?.value ?? '';
      if (value && beforeClose) {
        ev.preventDefault();
        if (await beforeClose(value, form)) dialog.close(value);
      }
    });
    // Keep Tab and Shift+Tab inside: the page behind is inert, but focus could leave for the browser's UI.
    dialog.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Tab') return;
      const items = focusable(dialog);
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (ev.shiftKey && document.activeElement === first) {
        ev.preventDefault();
        last.focus();
      } else if (!ev.shiftKey && document.activeElement === last) {
        ev.preventDefault();
        first.focus();
      }
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      previous?.focus();
      resolve(dialog.returnValue);
    });
    dialog.showModal();
    const first = /** @type {HTMLElement | null} */ (form.querySelector('input, select, textarea, button'));
    first?.focus();
  });
}

/** @param {HTMLElement} root */
function focusable(root) {
  return /** @type {HTMLElement[]} */ ([...root.querySelectorAll('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]).filter(
    (el) => !(/** @type {any} */ (el).disabled) && el.getClientRects().length > 0,
  );
}

/**
 * Asks for confirmation of a destructive action.
 * @param {string} title
 * @param {string} message
 * @param {string} [confirmLabel]
 */
export async function confirmDialog(title, message, confirmLabel = 'Delete') {
  const v = await openDialog({ title, body: [h('p', { text: message })], actions: [{ label: confirmLabel, value: 'yes', cls: 'danger' }] });
  return v === 'yes';
}

/**
 * Shows a secret once, with a copy button and a warning.
 * @param {string} title
 * @param {string} secret
 * @param {string} [what] what the secret is, e.g. "API key"
 */
export async function secretDialog(title, secret, what = 'secret') {
  const el = /** @type {import('./secret.js').SecretField} */ (document.createElement('hx-secret'));
  el.setAttribute('label', what);
  el.value = secret;
  await openDialog({
    title,
    body: [
      h('p', { class: 'alert warn', role: 'note', text: `Copy this ${what} now: Herald keeps only its hash and will never show it again.` }),
      el,
    ],
    actions: [{ label: 'I have copied it', value: 'done' }],
  });
}
