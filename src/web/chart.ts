/** The live training chart: loss and accuracy against steps, as inline SVG redrawn on every point. */
const SVG = 'http://www.w3.org/2000/svg';

export interface Series {
  name: string;
  colour: string;
  /** [step, value] pairs. */
  points: [number, number][];
  /** Which axis: loss on the left (from 0 to its largest), accuracy on the right (0 to 1). */
  axis: 'loss' | 'accuracy';
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  text = '',
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== '') node.textContent = text;
  return node;
}

/** Draws the series into `target` (an <svg>), replacing what it held. */
export function drawChart(target: SVGSVGElement, series: readonly Series[], totalSteps: number): void {
  const width = 640;
  const height = 260;
  // The legend sits in the top margin, above the lines.
  const margin = { left: 48, right: 48, top: 30, bottom: 32 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  target.setAttribute('viewBox', `0 0 ${width} ${height}`);
  target.replaceChildren();
  const losses = series.filter((s) => s.axis === 'loss').flatMap((s) => s.points.map(([, v]) => v));
  const lossTop = Math.max(0.5, ...losses) * 1.05;
  const x = (step: number) => margin.left + (plotWidth * step) / Math.max(1, totalSteps);
  const y = (value: number, axis: Series['axis']) =>
    margin.top + plotHeight * (1 - value / (axis === 'loss' ? lossTop : 1));

  for (let i = 0; i <= 4; i++) {
    const at = margin.top + (plotHeight * i) / 4;
    target.append(
      svg('line', { x1: margin.left, x2: margin.left + plotWidth, y1: at, y2: at, class: 'grid' }),
      svg(
        'text',
        { x: margin.left - 6, y: at + 4, 'text-anchor': 'end' },
        ((lossTop * (4 - i)) / 4).toFixed(2),
      ),
      svg('text', { x: margin.left + plotWidth + 6, y: at + 4 }, `${(100 * (4 - i)) / 4}%`),
    );
  }
  target.append(
    svg('text', { x: margin.left + plotWidth / 2, y: height - 6, 'text-anchor': 'middle' }, 'step'),
    svg('text', { x: margin.left, y: height - 6, 'text-anchor': 'middle' }, '0'),
    svg('text', { x: margin.left + plotWidth, y: height - 6, 'text-anchor': 'middle' }, String(totalSteps)),
  );
  series.forEach((s, i) => {
    if (s.points.length > 0) {
      const path = s.points
        .map(([step, v], j) => `${j === 0 ? 'M' : 'L'}${x(step)},${y(v, s.axis)}`)
        .join(' ');
      target.append(svg('path', { d: path, stroke: s.colour, class: 'series' }));
    }
    const legendX = margin.left + 12 + i * 150;
    target.append(
      svg('rect', { x: legendX, y: 10, width: 12, height: 3, fill: s.colour }),
      svg('text', { x: legendX + 16, y: 15 }, s.name),
    );
  });
}
