// `convnets serve`: the static server's headers, MIME types and refusals on a directory of known files, and the
// command itself: its URL line, Ctrl-C, a port in use, an option out of range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInside, startServer } from '../../src/cli/serve.js';
import { assertOneLineFailure, assertUsageFailure, cliMain } from './helpers.js';

/** A raw GET (no URL normalisation by the client, so `..` reaches the server as written). */
function get(
  port: number,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => done({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('the server sends its files with COOP/COEP, their MIME types, and nothing outside its directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-serve-'));
  await mkdir(join(dir, 'site'));
  await writeFile(join(dir, 'secret.txt'), 'outside');
  await writeFile(join(dir, 'site', 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(join(dir, 'site', 'k.wasm'), Uint8Array.of(0, 0x61, 0x73, 0x6d));
  const { server, url } = await startServer(join(dir, 'site'), 0, '127.0.0.1');
  try {
    const port = Number(new URL(url).port);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await get(port, '/');
    assert.equal(index.status, 200);
    assert.equal(index.body, '<!doctype html><title>t</title>');
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(index.headers['cross-origin-embedder-policy'], 'require-corp');
    const wasm = await get(port, '/k.wasm');
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    assert.equal(wasm.body, '\0asm');
    assert.equal((await get(port, '/absent.js')).status, 404);
    for (const path of ['/../secret.txt', '/a/../../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt']) {
      const response = await get(port, path);
      assert.ok([403, 404].includes(response.status), `${path}: ${response.status}`);
      assert.notEqual(response.body, 'outside', path);
    }
    assert.equal(resolveInside('/srv/site', '/..%2f..%2fetc/passwd'), null);
    assert.equal(resolveInside('/srv/site', '/a/b.js?x=1'), '/srv/site/a/b.js');
  } finally {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
    await rm(dir, { recursive: true, force: true });
  }
});

test('convnets serve prints its URL and stops cleanly on Ctrl-C; a port in use is one line', async () => {
  // Without the built page the command says to run make web, and never listens.
  const child = spawn(process.execPath, [cliMain, 'serve', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const deadline = Date.now() + 30_000;
  while (!/serving the page at|not built/.test(output) && Date.now() < deadline)
    await new Promise((done) => setTimeout(done, 50));
  if (/not built/.test(output)) {
    assert.match(output, /^convnets serve: the page is not built \(no .*index\.html\); run make web\n$/);
    assert.equal(await exited, 1);
    return;
  }
  const url = /serving the page at (http:\S+)/.exec(output)![1];
  const port = Number(new URL(url).port);
  assert.equal((await get(port, '/')).status, 200);
  assertOneLineFailure(
    ['serve', '--port', String(port)],
    new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`),
  );
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.match(output, /convnets: stopped\n$/);
});

test('convnets serve checks its options', () => {
  assertUsageFailure(['serve', '--port', 'eighty'], /--port/);
  assertOneLineFailure(['serve', '--port', '70000'], /--port 70000 is not a port/);
  assertUsageFailure(['serve', 'extra'], /unexpected argument 'extra'/);
});
