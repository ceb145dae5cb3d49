import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  historyChart,
  historyToCsv,
  historyToJson,
  lineChart,
  niceTicks,
  type EpochRecord,
} from '../../src/train/index.js';

const history: EpochRecord[] = [
  {
    epoch: 1,
    trainLoss: 0.9,
    trainTop1: 0.7,
    valLoss: 0.6,
    valTop1: 0.8,
    valTop5: 0.99,
    lr: 0.1,
    seconds: 2.5,
    imagesPerSecond: 1000,
  },
  {
    epoch: 2,
    trainLoss: 0.5,
    trainTop1: 0.85,
    valLoss: 0.45,
    valTop1: 0.86,
    valTop5: 1,
    lr: 0.05,
    seconds: 2,
    imagesPerSecond: 1200,
  },
  {
    epoch: 3,
    trainLoss: 0.3,
    trainTop1: 0.9,
    valLoss: null,
    valTop1: null,
    valTop5: null,
    lr: 0,
    seconds: 2,
    imagesPerSecond: 1250,
  },
];

test('history as CSV and JSON', () => {
  assert.equal(
    historyToCsv(history),
    'epoch,trainLoss,trainTop1,valLoss,valTop1,valTop5,lr,seconds,imagesPerSecond\n' +
      '1,0.9,0.7,0.6,0.8,0.99,0.1,2.5,1000\n' +
      '2,0.5,0.85,0.45,0.86,1,0.05,2,1200\n' +
      '3,0.3,0.9,,,,0,2,1250\n',
  );
  assert.deepEqual(JSON.parse(historyToJson(history)), history);
});

test('nice ticks are round numbers covering the range', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.27, 0.93), [0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1, 8, 7), [1, 2, 3, 4, 5, 6, 7, 8]);
});

/** Well-formedness without an XML parser: every element closes, in order. */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the open element`);
    else stack.push(name);
  }
  assert.deepEqual(stack, []);
}

test('the chart is an SVG document with the series, axes and legend', () => {
  const svg = historyChart(history, { title: 'tiny & run' });
  assert.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assertBalanced(svg);
  assert.match(svg, /<title>tiny &amp; run<\/title>/);
  const series = [...svg.matchAll(/<polyline data-series="([^"]+)"[^>]*points="([^"]+)"/g)];
  assert.deepEqual(
    series.map((m) => [m[1], m[2].split(' ').length]),
    [
      ['train loss', 3],
      ['validation loss', 2],
      ['train top-1', 3],
      ['validation top-1', 2],
    ],
  );
  for (const label of ['Loss', 'Accuracy', 'epoch', '100%', 'train loss', 'validation top-1']) {
    assert.ok(svg.includes(`>${label}<`), `the chart shows ${label}`);
  }
  // Loss falls, so the train-loss line goes down the page (SVG y grows downwards).
  const ys = series[0][2].split(' ').map((p) => Number(p.split(',')[1]));
  assert.ok(ys[0] < ys[1] && ys[1] < ys[2]);
});

test('a legend too wide for one row wraps into more, centred, and the chart grows to hold them', () => {
  const series = (label: string) => ({
    label,
    color: '#000',
    dashed: false,
    points: [[1, 0.5]] as [number, number][],
  });
  const panel = (labels: string[]) => ({
    title: 'p',
    yLabel: 'y',
    series: labels.map(series),
    range: [0, 1] as [number, number],
    format: String,
  });
  const short = lineChart([panel(['a', 'b'])]);
  const long = lineChart([
    panel(['a long first label', 'a long second label', 'third', 'a fourth long one']),
  ]);
  const height = (svg: string) => Number(/<svg [^>]*height="(\d+)"/.exec(svg)![1]);
  const entries = (svg: string) =>
    [
      ...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" dominant-baseline="middle" font-size="12">([^<]+)</g),
    ].map((m) => ({ x: Number(m[1]), y: Number(m[2]), label: m[3] }));
  assert.equal(new Set(entries(short).map((e) => e.y)).size, 1);
  const rows = new Map<number, { x: number; label: string }[]>();
  for (const e of entries(long)) rows.set(e.y, [...(rows.get(e.y) ?? []), e]);
  assert.ok(rows.size >= 2, `${rows.size} rows`);
  assert.equal(height(long) - height(short), 18 * (rows.size - 1));
  // Within a row, each label ends (7 px a character) before the next entry's line sample begins.
  for (const row of rows.values())
    for (let i = 1; i < row.length; i++)
      assert.ok(row[i - 1].x + 7 * row[i - 1].label.length <= row[i].x - 30, JSON.stringify(row));
});
