// Every runnable code block of README.md and docs/**/*.md runs here, against the built package, so the docs cannot
// rot. The rule (docs/code-blocks.md): a `ts`/`typescript`/`js`/`javascript` block that imports 'convnets' or
// 'convnets/browser', and a `sh`/`bash`/`shell` block whose every command is `convnets …`, run; `no-run` after the
// language opts a block out. The blocks of one page run in order in one temporary directory, as a reader would type
// them, with `convnets` on PATH and importable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
/**
 * A guard against a hung block, not a time asserted: blocks run at tiny budgets, but on a two-core machine shared with
 * the rest of the suite the longest (docs/explain.md's pictures, after a two-epoch training) has come near 120 s.
 */
const BLOCK_TIMEOUT_MS = 300_000;

interface Block {
  /** Relative to the repository, with the line of the opening fence. */
  where: string;
  language: string;
  attributes: string[];
  code: string;
}

const SCRIPT_LANGUAGES = new Set(['ts', 'typescript', 'js', 'javascript']);
const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell']);

/**
 * The fenced blocks of a Markdown file, with their info strings split into language and attributes. A block closes
 * at a fence of at least as many backticks as opened it, so a ```` block can show a ``` one.
 */
function fencedBlocks(markdown: string, file: string): Block[] {
  const blocks: Block[] = [];
  let open: { line: number; fence: string; info: string[]; body: string[] } | null = null;
  markdown.split('\n').forEach((text, index) => {
    if (open === null) {
      const fence = /^(`{3,})([^`]*)$/.exec(text);
      if (fence)
        open = {
          line: index + 1,
          fence: fence[1],
          info: fence[2].trim().split(/\s+/).filter(Boolean),
          body: [],
        };
    } else if (text.trim().startsWith(open.fence) && /^`+$/.test(text.trim())) {
      const [language = '', ...attributes] = open.info;
      blocks.push({ where: `${file}:${open.line}`, language, attributes, code: open.body.join('\n') });
      open = null;
    } else {
      open.body.push(text);
    }
  });
  return blocks;
}

/** The commands of a shell block: its lines less comments and blank ones. */
function shellCommands(code: string): string[] {
  return code
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '');
}

/** How a block runs under the rule above, or null when it is not a runnable block. */
function runKind(block: Block): 'script' | 'shell' | null {
  if (SCRIPT_LANGUAGES.has(block.language)) {
    return /from\s+['"]convnets(\/browser)?['"]/.test(block.code) ? 'script' : null;
  }
  if (SHELL_LANGUAGES.has(block.language)) {
    const commands = shellCommands(block.code);
    return commands.length > 0 && commands.every((command) => /^convnets(\s|$)/.test(command))
      ? 'shell'
      : null;
  }
  return null;
}

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/** A directory where `import 'convnets'` is the built package and `convnets` the built command. */
function sandbox(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-docs-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'convnets'), 'dir');
  mkdirSync(join(dir, 'bin'));
  const command = join(dir, 'bin', 'convnets');
  writeFileSync(command, `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`);
  chmodSync(command, 0o755);
  // The backend a reader gets (native where its addon is built), not the suite's oracle.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
  delete env.CONVNETS_BACKEND;
  delete env.NODE_TEST_CONTEXT;
  return { dir, env };
}

function run(block: Block, kind: 'script' | 'shell', dir: string, env: NodeJS.ProcessEnv): void {
  const name = `block-${block.where.replace(/\W+/g, '-')}`;
  let argv: string[];
  if (kind === 'script') {
    const js = ts.transpileModule(block.code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(dir, `${name}.mjs`), js);
    argv = [process.execPath, `${name}.mjs`];
  } else {
    writeFileSync(join(dir, `${name}.sh`), `set -e\n${block.code}\n`);
    argv = ['bash', `${name}.sh`];
  }
  const result = spawnSync(argv[0], argv.slice(1), {
    cwd: dir,
    env,
    encoding: 'utf8',
    timeout: BLOCK_TIMEOUT_MS,
  });
  const output = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, `${block.where} (${block.language}) exited ${result.status}:\n${output}`);
  assert.doesNotMatch(
    result.stderr,
    /^\s+at .+:\d+:\d+\)?$/m,
    `${block.where} printed a stack trace:\n${output}`,
  );
}

const pages = [join(root, 'README.md'), ...markdownFiles(join(root, 'docs'))].map((path) => {
  const file = relative(root, path);
  return { file, blocks: fencedBlocks(readFileSync(path, 'utf8'), file) };
});

test('the rule finds the blocks it should: the README example runs, a no-run block and text blocks do not', () => {
  const readme = pages.find((page) => page.file === 'README.md')!;
  const runnable = readme.blocks.filter((block) => runKind(block) === 'script');
  assert.ok(
    runnable.some((block) => block.code.includes("models.get('resnet20'")),
    'the README example is run',
  );
  const [script, optedOut, notCli, text, shown] = fencedBlocks(
    [
      "```ts\nimport { zeros } from 'convnets';\n```",
      '```bash no-run\nconvnets train lenet5 --data fashion-mnist\n```',
      '```sh\nmake demo\n```',
      '```text\nconvnets info\n```',
      '````markdown\n```bash\nconvnets info\n```\n````',
    ].join('\n'),
    'example.md',
  );
  assert.deepEqual([script.where, script.language, script.attributes], ['example.md:1', 'ts', []]);
  assert.deepEqual(optedOut.attributes, ['no-run']);
  assert.deepEqual(
    [runKind(script), runKind(optedOut), runKind(notCli), runKind(text), runKind(shown)],
    ['script', 'shell', null, null, null],
  );
  assert.equal(shown.code, '```bash\nconvnets info\n```');
});

for (const { file, blocks } of pages) {
  const runnable = blocks.filter((block) => runKind(block) !== null && !block.attributes.includes('no-run'));
  if (runnable.length === 0) continue;
  test(`the code blocks of ${file} run`, () => {
    const { dir, env } = sandbox();
    try {
      for (const block of runnable) run(block, runKind(block)!, dir, env);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
