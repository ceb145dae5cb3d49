import type { ModelSummary } from './summary.js';

/** 1234567 → '1,234,567'. */
export function formatCount(n: number): string {
  const [whole, fraction] = String(n).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

/** 15470264320 → '15.47 G': a reading aid next to the exact figure, never instead of it. */
export function formatScaled(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  const found = units.find(([scale]) => Math.abs(n) >= scale);
  return found === undefined ? String(n) : `${(n / found[0]).toFixed(2)} ${found[1]}`;
}

/** Bytes in MiB, two decimals. */
export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
}

/** How a column of formatTable lines up its cells. */
export type Align = 'left' | 'right';

/** Lines of a text table: rules above and below the header and at the end, columns two spaces apart. */
export function formatTable(header: string[], rows: string[][], align: Align[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === 'left' ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = '─'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  return [rule, line(header), rule, ...rows.map(line), rule];
}

/**
 * An aligned text table in the manner of Keras' model.summary and torchinfo: one row per layer (path, type,
 * output shape, parameters, MACs), then totals with thousands separators; MACs and FLOPs each named.
 */
export function formatSummary(summary: ModelSummary): string {
  const anyFrozen = summary.totals.frozenParameters > 0;
  const header = ['Layer', 'Type', 'Output shape', 'Params', ...(anyFrozen ? ['Frozen params'] : []), 'MACs'];
  const rows = summary.rows.map((row) => {
    const params = row.repeated ? '(shared)' : formatCount(row.trainableParameters + row.frozenParameters);
    return [
      row.path === '' ? `(${row.type})` : row.path,
      row.type,
      `[${row.outputShape.join(', ')}]`,
      params,
      ...(anyFrozen ? [row.repeated ? '' : formatCount(row.frozenParameters)] : []),
      formatCount(row.macs),
    ];
  });
  const align: Align[] = ['left', 'left', 'left', 'right', ...(anyFrozen ? ['right' as const] : []), 'right'];
  const { totals, memory } = summary;
  const figures: [string, string, string][] = [
    ['Total params', formatCount(totals.parameters), ''],
    ['Trainable params', formatCount(totals.trainableParameters), ''],
    ['Frozen params', formatCount(totals.frozenParameters), ''],
    ['Total MACs', formatCount(totals.macs), formatScaled(totals.macs)],
    ['Total FLOPs (2 × MACs)', formatCount(totals.flops), formatScaled(totals.flops)],
    ['Input size (float32)', formatCount(memory.inputBytes), formatMiB(memory.inputBytes)],
    ['Activations (float32)', formatCount(memory.activationBytes), formatMiB(memory.activationBytes)],
    ['Parameters (float32)', formatCount(memory.parameterBytes), formatMiB(memory.parameterBytes)],
    ['Buffers', formatCount(memory.bufferBytes), formatMiB(memory.bufferBytes)],
  ];
  const labelWidth = Math.max(...figures.map(([label]) => label.length));
  const valueWidth = Math.max(...figures.map(([, value]) => value.length));
  const totalLines = figures.map(([label, value, scaled], i) => {
    const unit = i >= 5 ? ' bytes' : '';
    const extra = scaled === '' ? '' : `  (${scaled})`;
    return `${`${label}:`.padEnd(labelWidth + 1)}  ${value.padStart(valueWidth)}${unit}${extra}`;
  });
  const lines = [
    `${summary.model}: input [${summary.inputShape.join(', ')}] → output [${summary.outputShape.join(', ')}]`,
    ...formatTable(header, rows, align),
    ...totalLines,
  ];
  if (summary.uncalled.length > 0) {
    const names = summary.uncalled.map((m) => `${m.path} (${formatCount(m.parameters)})`).join(', ');
    lines.push(`Not called in evaluation mode, counted in the totals: ${names}`);
  }
  return lines.join('\n');
}
