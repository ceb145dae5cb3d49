// The weights cache against an HTTP server on 127.0.0.1 that this test runs: a good file is fetched once and
// reused offline, and a wrong hash, a cut-short body or no server at all each fail with one DownloadError that
// says where to put the file, leaving nothing in the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownloadError, ValueError } from '../../src/errors.js';
import { cachePath, cachedDownload, convnetsHome } from '../../src/io/index.js';

const payload = randomBytes(300_000);
const payloadHash = createHash('sha256').update(payload).digest('hex');

interface Served {
  base: string;
  requests: string[];
  close: () => Promise<void>;
}

/** Serves /good.pth whole, /truncated.pth announcing the full length but closing halfway, /missing.pth as 404. */
async function serve(): Promise<Served> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url === '/good.pth' || request.url === '/altered.pth') {
      const body =
        request.url === '/good.pth' ? payload : Buffer.concat([payload.subarray(1), Buffer.from([0])]);
      response.writeHead(200, { 'content-length': body.length });
      // In pieces, so the progress callback is called more than once.
      response.write(body.subarray(0, 100_000));
      response.end(body.subarray(100_000));
    } else if (request.url === '/truncated.pth') {
      response.writeHead(200, { 'content-length': payload.length });
      response.write(payload.subarray(0, 120_000), () => response.destroy());
    } else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const freshHome = () => mkdtempSync(join(tmpdir(), 'convnets-home-'));
const weightsDir = (home: string) => join(home, 'weights');

test('a file is downloaded once, verified, and reused from the cache with the server gone', async () => {
  const server = await serve();
  const home = freshHome();
  const seen: [number, number | null][] = [];
  const spec = { url: `${server.base}/good.pth`, sha256: payloadHash.slice(0, 8) };
  const path = await cachedDownload(spec, {
    home,
    progress: (received, total) => seen.push([received, total]),
  });
  assert.equal(path, join(home, 'weights', 'good.pth'));
  assert.ok(readFileSync(path).equals(payload));
  assert.ok(seen.length >= 2, `progress called ${seen.length} times`);
  assert.deepEqual(seen.at(-1), [payload.length, payload.length]);
  assert.deepEqual(readdirSync(weightsDir(home)), ['good.pth'], 'no temporary file left');
  await server.close();
  // Offline now: the cache answers, with the whole digest as well as with a prefix.
  assert.equal(await cachedDownload({ ...spec, sha256: payloadHash }, { home }), path);
  assert.deepEqual(server.requests, ['/good.pth']);
});

test('a hash mismatch fails, keeps nothing and says how to place the file by hand', async () => {
  const server = await serve();
  const home = freshHome();
  const spec = { url: `${server.base}/altered.pth`, sha256: payloadHash.slice(0, 8) };
  await assert.rejects(cachedDownload(spec, { home, progress: () => undefined }), (error: Error) => {
    assert.ok(error instanceof DownloadError, String(error));
    assert.match(error.message, /has SHA-256 [0-9a-f]{64}, not [0-9a-f]{8}…; nothing was kept/);
    assert.ok(error.message.includes(`put it at ${join(home, 'weights', 'altered.pth')}`), error.message);
    return true;
  });
  assert.deepEqual(readdirSync(weightsDir(home)), []);
  await server.close();
});

test('a download cut short fails with the byte count and leaves no partial file', async () => {
  const server = await serve();
  const home = freshHome();
  const spec = { url: `${server.base}/truncated.pth`, sha256: payloadHash.slice(0, 8) };
  await assert.rejects(cachedDownload(spec, { home, progress: () => undefined }), (error: Error) => {
    assert.ok(error instanceof DownloadError, String(error));
    assert.match(error.message, /stopped after \d+ of 300000 bytes|ended after \d+ of 300000 bytes/);
    assert.match(error.message, /nothing was kept/);
    return true;
  });
  assert.deepEqual(readdirSync(weightsDir(home)), []);
  await server.close();
});

test('no server, and an HTTP error, are one clear error each', async () => {
  const server = await serve();
  const home = freshHome();
  await assert.rejects(
    cachedDownload({ url: `${server.base}/missing.pth`, sha256: 'abcdef01' }, { home }),
    /cannot download .*missing\.pth: the server answered 404 .*to place it by hand/,
  );
  const url = `${server.base}/good.pth`;
  await server.close();
  await assert.rejects(cachedDownload({ url, sha256: payloadHash.slice(0, 8) }, { home }), (error: Error) => {
    assert.ok(error instanceof DownloadError);
    assert.match(error.message, /^cannot download http:\/\/127\.0\.0\.1:\d+\/good\.pth: .*ECONNREFUSED/);
    assert.ok(error.message.includes(`curl -L -o '${join(home, 'weights', 'good.pth')}'`), error.message);
    return true;
  });
  assert.ok(!existsSync(join(home, 'weights', 'good.pth')));
});

test('a file placed by hand is used when its hash matches and refused when it does not', async () => {
  const home = freshHome();
  const url = 'http://127.0.0.1:9/placed.pth'; // the discard port: never reached when the cache has the file
  const path = cachePath(url, home);
  await assert.rejects(cachedDownload({ url, sha256: payloadHash.slice(0, 8) }, { home }), DownloadError);
  writeFileSync(path, payload);
  assert.equal(await cachedDownload({ url, sha256: payloadHash.slice(0, 12) }, { home }), path);
  await assert.rejects(
    cachedDownload({ url, sha256: 'deadbeef' }, { home }),
    /is in the cache but its SHA-256 is [0-9a-f]{64}, not deadbeef…; delete it/,
  );
  await assert.rejects(cachedDownload({ url, sha256: 'abc' }, { home }), ValueError);
});

test('CONVNETS_HOME chooses the cache directory', () => {
  const before = process.env.CONVNETS_HOME;
  try {
    process.env.CONVNETS_HOME = '/somewhere/else';
    assert.equal(convnetsHome(), '/somewhere/else');
    assert.equal(
      cachePath('https://download.pytorch.org/models/resnet18-f37072fd.pth'),
      '/somewhere/else/weights/resnet18-f37072fd.pth',
    );
  } finally {
    if (before === undefined) delete process.env.CONVNETS_HOME;
    else process.env.CONVNETS_HOME = before;
  }
});
