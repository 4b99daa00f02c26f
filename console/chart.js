// A bar chart drawn by hand in SVG: a few dozen rectangles need no charting library. Colours
// come from classes in style.css (the CSP allows no inline styles).

import { svg } from './dom.js';

const W = 720;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 56 };

/** Rounds up to 1, 2 or 5 × 10^n so the axis reads well. */
function niceMax(value) {
  if (value <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (value <= m * p) return m * p;
  return 10 * p;
}

function short(n) {
  if (n >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/**
 * `labels`: one per bar (YYYY-MM-DD); `series`: [{name, class, values}] stacked bottom-up.
 * Returns an <svg> element with a <title> on every bar for hover read-outs.
 */
export function barChart({ id, title, labels, series }) {
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / Math.max(1, labels.length);
  const barW = Math.max(2, step * 0.7);
  const y = (v) => PAD.top + plotH - (v / max) * plotH;

  const root = svg('svg', {
    id,
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': `${title}: ${totals.reduce((a, b) => a + b, 0)} in ${labels.length} days`,
  });
  root.append(svg('title', { text: title }));
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    const v = max * frac;
    root.append(
      svg('line', { class: 'grid-line', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      svg('text', { class: 'axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', text: short(v) }),
    );
  }
  labels.forEach((label, i) => {
    const x = PAD.left + i * step + (step - barW) / 2;
    let base = 0;
    for (const s of series) {
      const value = s.values[i] || 0;
      if (value > 0) {
        const rect = svg('rect', {
          class: `bar ${s.class}`,
          x: x.toFixed(1),
          y: y(base + value).toFixed(1),
          width: barW.toFixed(1),
          height: Math.max(1, y(base) - y(base + value)).toFixed(1),
          'data-day': label,
          'data-series': s.name,
          'data-value': value,
        });
        rect.append(svg('title', { text: `${label} · ${s.name}: ${value.toLocaleString('en')}` }));
        root.append(rect);
      }
      base += value;
    }
    if (i % 5 === 0 || i === labels.length - 1) {
      root.append(
        svg('text', { class: 'axis', x: (x + barW / 2).toFixed(1), y: H - 8, 'text-anchor': 'middle', text: label.slice(5) }),
      );
    }
  });
  root.append(svg('line', { class: 'axis-line', x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0) }));
  return root;
}
