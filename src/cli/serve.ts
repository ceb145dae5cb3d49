/**
 * `convnets serve`: the browser page (dist/web, built by `make web`) from a small static server on this machine. It
 * sends the cross-origin isolation headers (COOP/COEP), which pages need for SharedArrayBuffer and so for threads
 * over shared memory, and serves nothing outside its directory.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValueError } from '../errors.js';
import { defineCommand, refuseArguments } from './command.js';
import { abortOnSignals } from './signals.js';
import { numberOption } from './train-setup.js';

/** dist/web beside dist/src, in the checkout and in the package. */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.safetensors': 'application/octet-stream',
  '.u8': 'application/octet-stream',
};

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function reply(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(`${text}\n`);
}

/** The file a request names inside `root`, or null for a path that leaves it (`..`, an encoded one included). */
export function resolveInside(root: string, url: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, 'http://localhost').pathname);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.split('/').includes('..')) return null;
  const file = resolve(root, `.${path.endsWith('/') ? `${path}index.html` : path}`);
  return file === resolve(root) || file.startsWith(resolve(root) + sep) ? file : null;
}

async function handle(root: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, 'only GET and HEAD');
  // The raw request target, before any normalisation: a client may send /../ as it is.
  if ((request.url ?? '/').split('?')[0].split('/').includes('..')) return reply(response, 403, 'forbidden');
  const file = resolveInside(root, request.url ?? '/');
  if (file === null) return reply(response, 403, 'forbidden');
  const info = await stat(file).catch(() => null);
  if (info === null || !info.isFile()) return reply(response, 404, 'not found');
  response.writeHead(200, {
    ...ISOLATION_HEADERS,
    'Content-Type': MIME_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
    'Cache-Control': 'no-cache',
  });
  if (request.method === 'HEAD') return void response.end();
  createReadStream(file).pipe(response);
}

/** Serves `root` on host:port (0: any free port); resolves once listening, with the URL. */
export async function startServer(
  root: string,
  port: number,
  host: string,
): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    handle(root, request, response).catch((error: unknown) => {
      if (!response.headersSent) reply(response, 500, (error as Error).message);
      else response.destroy();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        fail(new ValueError(`port ${port} on ${host} is in use; give another with --port`));
      else if (error.code === 'EACCES')
        fail(new ValueError(`port ${port} on ${host} needs privileges; give one above 1023 with --port`));
      else fail(new ValueError(`cannot listen on ${host}:${port} (${error.message})`));
    });
    server.listen(port, host, () => done());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { server, url: `http://${shownHost}:${actual}/` };
}

const options = {
  port: { value: 'N', help: 'the port (0: any free one)', default: '8080' },
  host: { value: 'HOST', help: 'the address to listen on', default: '127.0.0.1' },
};

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'serve the browser page: the case-study explorer, training in a tab, the bottleneck costs',
  synopsis: ['[--port N] [--host HOST]'],
  description:
    'Serves dist/web (built by make web) on this machine, with the cross-origin isolation headers\n' +
    '(COOP/COEP) and the wasm MIME type; the same files deploy to any static host. Ctrl-C stops it.',
  options,
  examples: ['convnets serve', 'convnets serve --port 9000'],
  run: async ({ values, positionals }) => {
    refuseArguments('serve', positionals);
    const port = numberOption('port', values.port, 8080, { integer: true, min: 0 });
    if (port > 65535) throw new ValueError(`--port ${port} is not a port (0 to 65535)`);
    const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
    const index = join(WEB_DIR, 'index.html');
    if ((await stat(index).catch(() => null)) === null)
      throw new ValueError(`the page is not built (no ${index}); run make web`);
    const { server, url } = await startServer(WEB_DIR, port, host);
    console.log(`convnets: serving the page at ${url} (Ctrl-C stops)`);
    const { signal, dispose } = abortOnSignals();
    await new Promise<void>((done) => signal.addEventListener('abort', () => done(), { once: true }));
    dispose();
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
    console.log('convnets: stopped');
  },
});
