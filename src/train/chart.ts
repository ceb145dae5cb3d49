/**
 * The history as an SVG picture: two panels side by side, loss (left) and accuracy (right) per epoch, training
 * and validation series each, with axes, ticks, grid lines and a legend. Hand-written SVG: no dependency.
 */
import type { EpochRecord } from './history.js';
import { checkOptions } from '../options.js';

/** One line of a chart panel: (x, y) points, drawn in one colour. */
export interface ChartSeries {
  label: string;
  color: string;
  dashed: boolean;
  points: [number, number][];
  /** Stroke width (default 2): the paper's figures draw training thin and test bold. */
  width?: number;
  /** Whether the legend lists it (default true), where one entry stands for several series. */
  legend?: boolean;
}

/** One panel of a chart: its axes, title and series. */
export interface ChartPanel {
  title: string;
  yLabel: string;
  series: ChartSeries[];
  /** Fixed y range (accuracy) or null to fit the data. */
  range: [number, number] | null;
  /** How a y tick reads (e.g. as a percentage). */
  format: (y: number) => string;
  /** The x axis where it is not epochs 1…N. */
  x?: {
    /** The axis's title. */
    label: string;
    range: [number, number];
    /** How a tick reads (default: the number), e.g. 10 ** x on a log axis. */
    format?: (x: number) => string;
  };
}

type Series = ChartSeries;
type Panel = ChartPanel;

const WIDTH = 900;
const HEIGHT = 410;
const PANEL_WIDTH = WIDTH / 2;
const MARGIN = { left: 64, right: 20, top: 48, bottom: 82 };
/** Legend entries go below the axis, where they cannot hide a curve, in rows as wide as the panel's plot. */
const LEGEND_ROW = 18;
/** A legend entry's line sample and the gap after its label; labels take about 7 px a character at 12 px. */
const LEGEND_SAMPLE = 30;
const LEGEND_GAP = 18;
const LEGEND_CHARACTER = 7;
const PLOT_WIDTH = PANEL_WIDTH - MARGIN.left - MARGIN.right;
/** Height of the band a figure's note takes above its panels. */
const NOTE_HEIGHT = 24;
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

/** Where each legend entry goes: its row and x offset within a row centred on the plot; and how many rows. */
interface LegendLayout {
  at: { row: number; x: number }[];
  rows: number;
}

function legendLayout(labels: readonly string[]): LegendLayout {
  const widths = labels.map((label) => LEGEND_SAMPLE + LEGEND_CHARACTER * label.length + LEGEND_GAP);
  const rows: number[][] = [[]];
  let used = 0;
  widths.forEach((width, i) => {
    if (used > 0 && used + width > PLOT_WIDTH) {
      rows.push([]);
      used = 0;
    }
    rows[rows.length - 1].push(i);
    used += width;
  });
  const at = new Array<{ row: number; x: number }>(labels.length);
  rows.forEach((entries, row) => {
    const total = entries.reduce((sum, i) => sum + widths[i], 0) - LEGEND_GAP;
    let x = (PLOT_WIDTH - total) / 2;
    for (const i of entries) {
      at[i] = { row, x };
      x += widths[i];
    }
  });
  return { at, rows: rows.length };
}

const legendOf = (panel: Panel) => panel.series.filter((series) => series.legend !== false);

function panelSvg(panel: Panel, x0: number, epochs: number, layout: LegendLayout): string {
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
  const [xLow, xHigh] = panel.x?.range ?? [1, Math.max(2, epochs)];
  const sx = (x: number): number => left + ((x - xLow) / (xHigh - xLow)) * (right - left);
  const sy = (y: number): number => bottom - ((y - low) / (high - low)) * (bottom - top);
  const xTicks = niceTicks(xLow, xHigh, Math.min(10, xHigh - xLow)).filter(
    (t) => Number.isInteger(t) && t >= xLow && t <= xHigh,
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
    const label = panel.x?.format?.(t) ?? String(t);
    parts.push(
      `<text x="${x}" y="${bottom + 20}" text-anchor="middle" font-size="12">${escapeXml(label)}</text>`,
    );
  }
  parts.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`);
  parts.push(
    `<text x="${(left + right) / 2}" y="${bottom + 40}" text-anchor="middle" font-size="13">${escapeXml(panel.x?.label ?? 'epoch')}</text>`,
  );
  const yMiddle = (top + bottom) / 2;
  parts.push(
    `<text x="${x0 + 16}" y="${yMiddle}" text-anchor="middle" font-size="13" transform="rotate(-90 ${x0 + 16} ${yMiddle})">${escapeXml(panel.yLabel)}</text>`,
  );
  const legend = legendOf(panel);
  panel.series.forEach((series) => {
    const points = series.points.filter(([, y]) => Number.isFinite(y));
    if (points.length === 0) return;
    const coordinates = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    const width = series.width ?? 2;
    parts.push(
      `<polyline data-series="${escapeXml(series.label)}" fill="none" stroke="${series.color}" stroke-width="${width}"${dash} points="${coordinates.join(' ')}"/>`,
    );
    for (const c of coordinates) {
      const [cx, cy] = c.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="${width + 1}" fill="${series.color}"/>`);
    }
    const i = legend.indexOf(series);
    if (i < 0) return;
    const ly = bottom + 64 + layout.at[i].row * LEGEND_ROW;
    const lx = left + layout.at[i].x;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${series.color}" stroke-width="${width}"${dash}/>`,
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
  return lineChart(panels, { title: options.title, epochs });
}

/**
 * Panels side by side, each its own axes, series and legend; a note (what line widths mean) goes under the
 * title. historyChart and the experiments' figures are drawn by it.
 */
export function lineChart(
  panels: readonly ChartPanel[],
  options: { title?: string; epochs?: number; note?: string } = {},
): string {
  checkOptions('train.lineChart', options, { title: true, epochs: true, note: true });
  const width = PANEL_WIDTH * panels.length;
  const title = options.title ? `<title>${escapeXml(options.title)}</title>\n` : '';
  // The note gets a band of its own above the panels, so that it cannot run into their titles.
  const noteHeight = options.note === undefined ? 0 : NOTE_HEIGHT;
  // A legend too wide for one row takes more, below the panels.
  const layouts = panels.map((panel) => legendLayout(legendOf(panel).map((series) => series.label)));
  const legendRows = Math.max(1, ...layouts.map((layout) => layout.rows));
  const height = HEIGHT + noteHeight + (legendRows - 1) * LEGEND_ROW;
  const note =
    options.note === undefined
      ? []
      : [
          `<text x="${width / 2}" y="16" text-anchor="middle" font-size="12">${escapeXml(options.note)}</text>`,
        ];
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `${title}<rect width="${width}" height="${height}" fill="white"/>`,
    ...note,
    `<g transform="translate(0 ${noteHeight})">`,
    ...panels.map((panel, i) => panelSvg(panel, i * PANEL_WIDTH, options.epochs ?? 1, layouts[i])),
    '</g>',
    `</svg>`,
    '',
  ].join('\n');
}
