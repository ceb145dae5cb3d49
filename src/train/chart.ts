/**
 * The history as an SVG picture: two panels side by side, loss (left) and accuracy (right) per epoch, training
 * and validation series each, with axes, ticks, grid lines and a legend. Hand-written SVG: no dependency.
 */
import type { EpochRecord } from './history.js';
import { checkOptions } from '../options.js';

interface Series {
  label: string;
  color: string;
  dashed: boolean;
  points: [number, number][];
}

interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range (accuracy) or null to fit the data. */
  range: [number, number] | null;
  format: (y: number) => string;
}

const WIDTH = 900;
const HEIGHT = 410;
const PANEL_WIDTH = WIDTH / 2;
const MARGIN = { left: 64, right: 20, top: 48, bottom: 82 };
/** Width of one legend entry: its line sample and label, below the axis, where it cannot hide a curve. */
const LEGEND_ENTRY = 150;
const TRAIN_COLOR = '#1f77b4';
const VAL_COLOR = '#d62728';

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick values from at or below `low` to at or above `high`: steps of 1, 2 or 5 times a power of ten (Heckbert's nice numbers). */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const first = Math.floor(low / step + 1e-9);
  const last = Math.ceil(high / step - 1e-9);
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toFixed(12)));
}

function panelSvg(panel: Panel, x0: number, epochs: number): string {
  const left = x0 + MARGIN.left;
  const right = x0 + PANEL_WIDTH - MARGIN.right;
  const top = MARGIN.top;
  const bottom = HEIGHT - MARGIN.bottom;
  const values = panel.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  let [low, high] = panel.range ?? [Math.min(...values), Math.max(...values)];
  if (values.length === 0) [low, high] = [0, 1];
  if (panel.range === null) {
    const pad = (high - low) * 0.08 || Math.abs(high) * 0.1 || 1;
    low = Math.max(0, low - pad);
    high += pad;
  }
  const yTicks = niceTicks(low, high);
  low = Math.min(low, yTicks[0]);
  high = Math.max(high, yTicks[yTicks.length - 1]);
  const xLow = 1;
  const xHigh = Math.max(2, epochs);
  const sx = (x: number): number => left + ((x - xLow) / (xHigh - xLow)) * (right - left);
  const sy = (y: number): number => bottom - ((y - low) / (high - low)) * (bottom - top);
  const xTicks = niceTicks(xLow, xHigh, Math.min(10, xHigh - xLow)).filter(
    (t) => Number.isInteger(t) && t >= 1,
  );
  const parts: string[] = [];
  parts.push(
    `<text x="${(left + right) / 2}" y="${top - 20}" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="12">${escapeXml(panel.format(t))}</text>`,
    );
  }
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x}" y="${bottom + 20}" text-anchor="middle" font-size="12">${t}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`);
  parts.push(
    `<text x="${(left + right) / 2}" y="${bottom + 40}" text-anchor="middle" font-size="13">epoch</text>`,
  );
  const yMiddle = (top + bottom) / 2;
  parts.push(
    `<text x="${x0 + 16}" y="${yMiddle}" text-anchor="middle" font-size="13" transform="rotate(-90 ${x0 + 16} ${yMiddle})">${escapeXml(panel.yLabel)}</text>`,
  );
  panel.series.forEach((series, i) => {
    const points = series.points.filter(([, y]) => Number.isFinite(y));
    if (points.length === 0) return;
    const coordinates = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<polyline data-series="${escapeXml(series.label)}" fill="none" stroke="${series.color}" stroke-width="2"${dash} points="${coordinates.join(' ')}"/>`,
    );
    for (const c of coordinates) {
      const [cx, cy] = c.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${series.color}"/>`);
    }
    const ly = bottom + 64;
    const lx = (left + right) / 2 - (panel.series.length * LEGEND_ENTRY) / 2 + i * LEGEND_ENTRY;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${series.color}" stroke-width="2"${dash}/>`,
    );
    parts.push(
      `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle" font-size="12">${escapeXml(series.label)}</text>`,
    );
  });
  return parts.join('\n');
}

/** An SVG document of loss and top-1 accuracy per epoch; validation series appear when the history has them. */
export function historyChart(history: readonly EpochRecord[], options: { title?: string } = {}): string {
  checkOptions('train.historyChart', options, { title: true });
  const epochs = history.length === 0 ? 1 : history[history.length - 1].epoch;
  const series = (
    label: string,
    color: string,
    dashed: boolean,
    pick: (r: EpochRecord) => number | null,
  ): Series => ({
    label,
    color,
    dashed,
    points: history.flatMap((r): [number, number][] => {
      const y = pick(r);
      return y === null ? [] : [[r.epoch, y]];
    }),
  });
  const hasValidation = history.some((r) => r.valLoss !== null);
  const lossSeries = [series('train loss', TRAIN_COLOR, false, (r) => r.trainLoss)];
  const accuracySeries = [series('train top-1', TRAIN_COLOR, false, (r) => r.trainTop1)];
  if (hasValidation) {
    lossSeries.push(series('validation loss', VAL_COLOR, true, (r) => r.valLoss));
    accuracySeries.push(series('validation top-1', VAL_COLOR, true, (r) => r.valTop1));
  }
  const accuracies = accuracySeries.flatMap((s) => s.points.map(([, y]) => y));
  const accuracyLow =
    accuracies.length === 0 ? 0 : Math.max(0, Math.floor(Math.min(...accuracies) * 10) / 10);
  const panels: Panel[] = [
    {
      title: 'Loss',
      yLabel: 'cross-entropy',
      series: lossSeries,
      range: null,
      format: (y) => String(Number(y.toPrecision(3))),
    },
    {
      title: 'Accuracy',
      yLabel: 'top-1 accuracy',
      series: accuracySeries,
      range: [accuracyLow, 1],
      format: (y) => `${Math.round(y * 100)}%`,
    },
  ];
  const title = options.title ? `<title>${escapeXml(options.title)}</title>\n` : '';
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `${title}<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    panelSvg(panels[0], 0, epochs),
    panelSvg(panels[1], PANEL_WIDTH, epochs),
    `</svg>`,
    '',
  ].join('\n');
}
