// DESIGN.md's layering, checked on the import graph of src/ (every import and export-from of every .ts file): each
// folder imports only what its row of the layer table allows, nothing reachable from the browser entry imports
// Node, training code imports no model, and only backend/ and the Node entry know which backends exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** A folder of src/, or one of the files at its root. */
type Unit =
  | 'backend'
  | 'tensor'
  | 'nn'
  | 'models'
  | 'optim'
  | 'data'
  | 'train'
  | 'graph'
  | 'io'
  | 'analysis'
  | 'distributed'
  | 'cli'
  | 'web'
  | 'errors.ts'
  | 'options.ts'
  | 'version.ts'
  | 'browser.ts'
  | 'index.ts';

/** The folders the library is made of: everything but its command line, its web page and its entry points. */
const library: readonly Unit[] = [
  'backend',
  'tensor',
  'nn',
  'models',
  'optim',
  'data',
  'train',
  'graph',
  'io',
  'analysis',
  'distributed',
];

/**
 * DESIGN.md's table, "may import": what each unit may import directly. What those may import is below too, so
 * allowed (models/ builds on nn/, which builds on tensor/). errors.ts and version.ts import nothing, options.ts
 * only errors.ts, and every unit may import them.
 */
const mayImport: Record<Unit, readonly Unit[]> = {
  backend: [],
  tensor: ['backend'],
  nn: ['tensor'],
  models: ['nn'],
  optim: ['tensor', 'nn'],
  data: ['tensor'],
  // "Everything below" but models/ (see mayImportFiles): training code knows no particular model (auxiliary outputs
  // are nn/'s protocol). io/ is below train/: checkpoints are files written through it, and io/ imports nothing of
  // train/.
  train: ['backend', 'tensor', 'nn', 'optim', 'data', 'io'],
  graph: ['tensor', 'nn', 'backend'],
  io: ['tensor', 'nn', 'graph'],
  analysis: ['nn', 'tensor'],
  distributed: ['tensor', 'nn'],
  cli: [...library, 'index.ts'],
  web: ['browser.ts'],
  'errors.ts': [],
  // The options check: Node-free, importing only errors.ts, so every unit may check the options it is given.
  'options.ts': ['errors.ts'],
  'version.ts': [],
  // The browser entry: the library less what needs Node (which the reachability test below holds it to).
  'browser.ts': library,
  // The Node entry: the browser entry's surface and the rest of the library.
  'index.ts': [...library, 'browser.ts'],
};
/**
 * Single files a unit may import from a folder its row leaves out: train/ looks models up by name in the registry
 * (loadTrained rebuilds the model a checkpoint names), which knows no architecture, and published weights up in
 * the weights table (facts: URLs, hashes, class names, preprocessing).
 */
const mayImportFiles: Partial<Record<Unit, readonly string[]>> = {
  train: ['models/registry.ts', 'models/weights.ts'],
};
const leaves: readonly Unit[] = ['errors.ts', 'options.ts', 'version.ts'];

/** Everything `unit` may import: its row, what those rows allow, and the leaves. */
function allowed(unit: Unit): Set<Unit> {
  const reached = new Set<Unit>(leaves);
  const visit = (from: Unit) => {
    for (const next of mayImport[from]) {
      if (!reached.has(next)) {
        reached.add(next);
        visit(next);
      }
    }
  };
  visit(unit);
  return reached;
}

/** The unit of a path relative to src/ (its folder, or the file itself at the root); null if the table lacks it. */
function unitOf(file: string): Unit | null {
  const unit = file.split('/')[0];
  return Object.hasOwn(mayImport, unit) ? (unit as Unit) : null;
}

/** "a imports b" for each import from a unit its row does not allow; files are relative to src/. */
function upwardImports(edges: readonly (readonly [string, string])[]): string[] {
  return edges.flatMap(([from, to]) => {
    const source = unitOf(from);
    const target = unitOf(to);
    if (source === null) return [`src/${from}: no row in DESIGN.md's table for its folder`];
    if (target === null) return [`src/${from} imports src/${to}, which has no row in DESIGN.md's table`];
    return source === target || allowed(source).has(target) || mayImportFiles[source]?.includes(to)
      ? []
      : [`src/${from} (${source}) imports src/${to}`];
  });
}

const srcDir = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier in a source: imports, export-froms, import() calls and import('…') types. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      found.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

interface Graph {
  /** [importer, imported], both relative to src/, for imports of other source files. */
  edges: [string, string][];
  /** Each source file's imports of Node's built-in modules. */
  nodeImports: Map<string, string[]>;
}

const nodeBuiltins = new Set(builtinModules);
const isNodeBuiltin = (specifier: string) =>
  specifier.startsWith('node:') || nodeBuiltins.has(specifier.split('/')[0]);

function importGraph(): Graph {
  const graph: Graph = { edges: [], nodeImports: new Map() };
  for (const path of sourceFiles(srcDir)) {
    const file = relative(srcDir, path);
    for (const specifier of specifiers(path)) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(path), specifier).replace(/\.js$/, '.ts');
        assert.ok(existsSync(target), `src/${file} imports ${specifier}, which is no source file`);
        graph.edges.push([file, relative(srcDir, target)]);
      } else if (isNodeBuiltin(specifier)) {
        graph.nodeImports.set(file, [...(graph.nodeImports.get(file) ?? []), specifier]);
      }
    }
  }
  return graph;
}

const graph = importGraph();

test('every import in src/ goes to a layer that its row of DESIGN.md allows', () => {
  assert.deepEqual(upwardImports(graph.edges), []);
});

test('training code imports nothing from models/ but the registry', () => {
  const fromTrain = graph.edges.filter(
    ([from, to]) =>
      from.startsWith('train/') && to.startsWith('models/') && !mayImportFiles.train?.includes(to),
  );
  assert.deepEqual(fromTrain, []);
});

test('nothing reachable from the browser entry imports Node or the native backend', () => {
  // Breadth first, so each file is reached along a shortest chain of imports, which the failure shows.
  const chains = new Map<string, string[]>([['browser.ts', ['browser.ts']]]);
  const queue = ['browser.ts'];
  for (const file of queue) {
    for (const [from, to] of graph.edges) {
      if (from === file && !chains.has(to)) {
        chains.set(to, [...chains.get(file)!, to]);
        queue.push(to);
      }
    }
  }
  const found = [...chains].flatMap(([file, chain]) => [
    ...(graph.nodeImports.get(file) ?? []).map((module) => [...chain, module].join(' → ')),
    ...(file.startsWith('backend/native/') ? [chain.join(' → ')] : []),
  ]);
  assert.deepEqual(found, []);
  assert.ok(
    chains.has('backend/reference/index.ts') && chains.has('models/inception.ts'),
    'the walk reached them',
  );
});

test('only backend/ and the Node entry name a backend; the rest goes through the registry', () => {
  const named = graph.edges.filter(
    ([from, to]) =>
      /^backend\/(native|reference)\//.test(to) &&
      !from.startsWith('backend/') &&
      !(from === 'index.ts' && to.startsWith('backend/native/')),
  );
  assert.deepEqual(named, []);
});

test('the checks see what they are for: upward imports, unknown folders, graph/ before it exists', () => {
  assert.deepEqual(
    upwardImports([
      ['train/fit.ts', 'models/inception.ts'],
      ['tensor/ops/conv.ts', 'nn/module.ts'],
      ['graph/trace.ts', 'io/npy.ts'],
      ['web/page.ts', 'index.ts'],
      ['nn/module.ts', 'cli/main.ts'],
      ['extras/thing.ts', 'tensor/index.ts'],
      ['errors.ts', 'tensor/index.ts'],
    ]),
    [
      'src/train/fit.ts (train) imports src/models/inception.ts',
      'src/tensor/ops/conv.ts (tensor) imports src/nn/module.ts',
      'src/graph/trace.ts (graph) imports src/io/npy.ts',
      'src/web/page.ts (web) imports src/index.ts',
      'src/nn/module.ts (nn) imports src/cli/main.ts',
      "src/extras/thing.ts: no row in DESIGN.md's table for its folder",
      'src/errors.ts (errors.ts) imports src/tensor/index.ts',
    ],
  );
  assert.deepEqual(
    upwardImports([
      ['models/resnet.ts', 'tensor/index.ts'],
      ['io/onnx.ts', 'graph/model.ts'],
      ['graph/trace.ts', 'backend/backend.ts'],
      ['train/checkpoint.ts', 'io/safetensors.ts'],
      ['analysis/summary.ts', 'backend/registry.ts'],
      ['web/page.ts', 'browser.ts'],
      ['cli/info.ts', 'version.ts'],
      ['index.ts', 'browser.ts'],
    ]),
    [],
  );
});
