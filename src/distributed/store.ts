/**
 * The rendezvous store: rank 0 serves keys over TCP at MASTER_ADDR:MASTER_PORT and every rank sets keys and waits
 * for others' through one connection (PyTorch's TCPStore plays this part; Debian's Gloo has no TCP store). The
 * ranks swap their Gloo pair addresses through it, then close it. One JSON message a line, each with an id.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { DistributedError } from '../errors.js';

interface Request {
  id: number;
  op: 'set' | 'get';
  key: string;
  value?: string;
}

interface Reply {
  id: number;
  value?: string;
  error?: string;
}

/** Calls `onMessage` with each JSON line arriving on the socket. */
function readLines(socket: Socket, onMessage: (message: unknown) => void): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line.length > 0) onMessage(JSON.parse(line));
    }
  });
}

/**
 * Serves the store on every interface at `port`, as rank 0 does; a port in use is one line. Keys are set once: a
 * second set of one key (two processes given the same rank) is refused.
 */
export function serveStore(port: number): Promise<Server> {
  const values = new Map<string, string>();
  const waiting = new Map<string, (() => void)[]>();
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    const reply = (message: Reply) => socket.writable && socket.write(`${JSON.stringify(message)}\n`);
    readLines(socket, (message) => {
      const { id, op, key, value } = message as Request;
      if (op === 'set') {
        if (values.has(key)) return reply({ id, error: `two processes set '${key}'` });
        values.set(key, value ?? '');
        for (const wake of waiting.get(key) ?? []) wake();
        waiting.delete(key);
        return reply({ id });
      }
      const answer = () => reply({ id, value: values.get(key) });
      if (values.has(key)) return answer();
      waiting.set(key, [...(waiting.get(key) ?? []), answer]);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new DistributedError(
          error.code === 'EADDRINUSE'
            ? `port ${port} is in use on this machine (MASTER_PORT): choose another, e.g. --master 127.0.0.1:${port + 1}`
            : `rank 0 cannot serve the rendezvous on port ${port}: ${error.message}`,
        ),
      );
    });
    server.listen(port, () => resolve(server));
  });
}

/** Waits `ms` milliseconds. */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One rank's connection to the store. */
export class StoreClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: string) => void; reject: (e: Error) => void }
  >();
  private closedBecause: string | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly master: string,
  ) {
    readLines(socket, (message) => {
      const { id, value, error } = message as Reply;
      const request = this.pending.get(id);
      this.pending.delete(id);
      if (error !== undefined) request?.reject(new DistributedError(error));
      else request?.resolve(value ?? '');
    });
    const lost = (why: string) => {
      this.closedBecause ??= why;
      for (const request of this.pending.values()) request.reject(new DistributedError(this.closedBecause));
      this.pending.clear();
    };
    socket.on('error', (error) => lost(`the connection to the master at ${master} failed: ${error.message}`));
    socket.on('close', () => lost(`the master at ${master} closed the connection (has rank 0 ended?)`));
  }

  /**
   * Connects to the store at host:port, retrying while nobody listens yet (the ranks start in any order) until
   * `deadline` (a performance.now() time).
   */
  static async connect(host: string, port: number, deadline: number): Promise<StoreClient> {
    const master = `${host}:${port}`;
    for (;;) {
      const outcome = await new Promise<Socket | NodeJS.ErrnoException>((resolve) => {
        const socket = connect({ host, port });
        const timer = setTimeout(
          () => {
            socket.destroy();
            resolve(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' }));
          },
          Math.max(1, deadline - performance.now()),
        );
        socket.once('connect', () => {
          clearTimeout(timer);
          socket.removeAllListeners('error');
          resolve(socket);
        });
        socket.once('error', (error) => {
          clearTimeout(timer);
          resolve(error);
        });
      });
      if (!(outcome instanceof Error)) return new StoreClient(outcome, master);
      const retry = outcome.code === 'ECONNREFUSED' || outcome.code === 'ECONNRESET';
      if (outcome.code === 'ENOTFOUND' || outcome.code === 'EAI_AGAIN')
        throw new DistributedError(`the master address '${host}' does not resolve (MASTER_ADDR, --master)`);
      if (!retry || performance.now() >= deadline) {
        throw new DistributedError(
          `nobody answered at the master ${master} (MASTER_ADDR:MASTER_PORT) before the timeout: ${outcome.code ?? outcome.message}; is rank 0 running, and is this its address?`,
        );
      }
      await pause(100);
    }
  }

  /** The address this machine reaches the master from: the interface its Gloo pairs listen on. */
  get localAddress(): string {
    return this.socket.localAddress ?? '127.0.0.1';
  }

  set(key: string, value: string): Promise<void> {
    return this.request({ op: 'set', key, value }).then(() => undefined);
  }

  /** The key's value once some rank has set it; rejects with `onTimeout()`'s message at `deadline`. */
  async get(key: string, deadline: number, onTimeout: () => string): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DistributedError(onTimeout())),
        Math.max(1, deadline - performance.now()),
      );
    });
    try {
      return await Promise.race([this.request({ op: 'get', key }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.closedBecause ??= 'the store connection was closed';
    this.socket.destroy();
  }

  private request(request: Omit<Request, 'id'>): Promise<string> {
    if (this.closedBecause !== undefined) return Promise.reject(new DistributedError(this.closedBecause));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify({ ...request, id })}\n`);
    });
  }
}
