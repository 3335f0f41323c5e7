// @ts-check
/**
 * `<hx-sparkline label="Deliveries per second">`: a small line chart of the
 * last samples, drawn as SVG (no inline styles; colours come from CSS).
 * @module chart
 */

const SVG = 'http://www.w3.org/2000/svg';
const W = 240;
const H = 60;

export class Sparkline extends HTMLElement {
  /** @type {number[]} */
  #samples = [];
  #max = 60;
  /** @type {SVGSVGElement | null} */
  #svg = null;
  /** @type {HTMLElement | null} */
  #value = null;

  connectedCallback() {
    if (this.#svg) return;
    const label = this.getAttribute('label') ?? '';
    const title = document.createElement('div');
    title.className = 'spark-title';
    title.textContent = label;
    this.#value = document.createElement('output');
    this.#value.className = 'spark-value';
    this.#value.setAttribute('aria-label', `${label}, latest`);
    this.#svg = document.createElementNS(SVG, 'svg');
    this.#svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    this.#svg.setAttribute('preserveAspectRatio', 'none');
    this.#svg.setAttribute('role', 'img');
    this.#svg.classList.add('spark');
    this.replaceChildren(title, this.#value, this.#svg);
    this.#draw();
  }

  /** Adds a sample and redraws. @param {number} v */
  push(v) {
    this.#samples.push(Number.isFinite(v) ? v : 0);
    if (this.#samples.length > this.#max) this.#samples.shift();
    this.#draw();
  }

  get samples() {
    return [...this.#samples];
  }

  #draw() {
    const svg = this.#svg;
    if (!svg) return;
    const s = this.#samples;
    const last = s.at(-1);
    const unit = this.getAttribute('unit') ?? '';
    if (this.#value) this.#value.textContent = last === undefined ? '–' : `${fmt(last)}${unit}`;
    const top = Math.max(1, ...s);
    svg.setAttribute('aria-label', `${this.getAttribute('label') ?? ''}: ${s.length} samples, latest ${last === undefined ? 'none' : fmt(last)}, peak ${fmt(Math.max(0, ...s))}`);
    const step = W / Math.max(1, this.#max - 1);
    const x0 = W - (s.length - 1) * step;
    const pts = s.map((v, i) => `${(x0 + i * step).toFixed(1)},${(H - 2 - (v / top) * (H - 6)).toFixed(1)}`);
    const grid = document.createElementNS(SVG, 'line');
    grid.setAttribute('x1', '0');
    grid.setAttribute('x2', String(W));
    grid.setAttribute('y1', String(H - 1));
    grid.setAttribute('y2', String(H - 1));
    grid.classList.add('spark-axis');
    /** @type {SVGElement[]} */
    const children = [grid];
    if (s.length > 0) {
      const area = document.createElementNS(SVG, 'polygon');
      area.setAttribute('points', `${x0.toFixed(1)},${H} ${pts.join(' ')} ${W},${H}`);
      area.classList.add('spark-area');
      const line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', pts.length === 1 ? `${pts[0]} ${W},${pts[0].split(',')[1]}` : pts.join(' '));
      line.classList.add('spark-line');
      children.push(area, line);
    }
    svg.replaceChildren(...children);
  }
}

/** @param {number} v */
const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1));

customElements.define('hx-sparkline', Sparkline);
