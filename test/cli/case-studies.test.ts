// Every figure of docs/case-studies/ sits in a table row `| what | parameters or MACs | value | `command` |`; each
// command runs here through the code behind `convnets summary`, and its total must be the figure printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { summarize } from '../../src/cli/summary.js';

const directory = fileURLToPath(new URL('../../../docs/case-studies/', import.meta.url));
const row = /^\| (.+?) +\| (parameters|MACs) +\| +([\d,]+) +\| `convnets summary ([^`]+)` +\|$/;

/** `name --options '{...}' --input C,H,W` → its parts (the options in single quotes, as a shell takes them). */
function parseCommand(command: string): { name: string; options?: string; input?: string } {
  const match = /^(\S+)(?: --options '([^']*)')?(?: --input (\S+))?$/.exec(command);
  assert.ok(match, `a summary command this test reads: ${command}`);
  return { name: match[1], options: match[2], input: match[3] };
}

const pages = readdirSync(directory).filter((file) => file.endsWith('.md') && file !== 'README.md');

test('every case study has a page, each with figures to check', () => {
  assert.deepEqual(pages.sort(), [
    'alexnet.md',
    'densenet.md',
    'inception.md',
    'lenet5.md',
    'nin.md',
    'resnet.md',
    'vgg.md',
    'zfnet.md',
  ]);
});

for (const page of pages) {
  test(`docs/case-studies/${page}: every figure is what its command computes`, () => {
    const lines = readFileSync(`${directory}${page}`, 'utf8').split('\n');
    const figures = lines.map((line) => row.exec(line)).filter((match) => match !== null);
    assert.ok(figures.length >= 2, `${page} has figures`);
    // A table row with a command this test cannot read would go unchecked: none may.
    const commandRows = lines.filter((line) => line.startsWith('|') && line.includes('`convnets summary'));
    assert.equal(commandRows.length, figures.length, `${page}: every command row is a figure row`);
    for (const [, what, kind, value, command] of figures) {
      const { name, options, input } = parseCommand(command);
      const totals = summarize(name, options, input).totals;
      const actual = kind === 'parameters' ? totals.parameters : totals.macs;
      assert.equal(actual.toLocaleString('en-US'), value, `${page}: ${what} (${command})`);
    }
  });
}
