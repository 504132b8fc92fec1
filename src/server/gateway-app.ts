// Hosting an app (webserver2 and the final server): load it once in the server process, before
// any fork, so every child inherits it ready (gunicorn's preload_app), and report what its
// handlers throw.

import { once } from 'node:events';
import * as net from 'node:net';
import { AppLoadError, gatewayHandler, loadApp, parseAppSpec, type GatewayOptions, type Interface, type LoadedApp } from '../gateway';
import { accept, close, type SocketAddress } from '../posix';
import { createListener } from './listener';
import { warn } from './log';

/**
 * Loads `module:export`; AppLoadError (one line, code ERR_FORKSERVE_APP) when it cannot. An app
 * whose module calls listen() while it loads (a server of its own, beside forkserve's) is told so.
 */
export async function loadAppSpec(spec: string, forced?: Interface): Promise<LoadedApp> {
  const listens: string[] = [];
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    const [first] = args;
    listens.push(typeof first === 'object' && first !== null ? JSON.stringify(first) : `port ${String(first)}`);
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
  try {
    return await loadApp(parseAppSpec(spec), { interface: forced });
  } finally {
    net.Server.prototype.listen = listen;
    if (listens.length > 0) {
      warn(
        `warning: loading ${spec} called listen() (${listens.join(', ')}): that server runs in this process, beside ` +
          "forkserve's; start it only when the module runs by itself (CommonJS: if (require.main === module) ...; " +
          'ES module: if (import.meta.filename === process.argv[1]) ...)',
      );
    }
  }
}

/** What the gateway calls with an error the app threw or rejected with (after answering 500). */
export function reportAppError(err: unknown): void {
  warn(`app error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
}

export function describeApp(app: LoadedApp, spec: string): string {
  return `${spec} (${app.kind}, ${app.interface} interface)`;
}

/** Trivial apps of each interface: they warm the gateway's own code without running the user's. */
const WARM_UP_APPS: Record<Interface, LoadedApp> = {
  node: {
    interface: 'node',
    kind: 'warm-up',
    name: 'warm-up',
    listener: (req, res) => {
      req.on('data', () => {});
      req.on('end', () => {
        res.setHeader('Content-Type', 'text/plain');
        if (req.url?.includes('stream')) {
          res.write('o');
          res.end('k');
        } else res.end('ok');
      });
    },
  },
  fetch: {
    interface: 'fetch',
    kind: 'warm-up',
    name: 'warm-up',
    fetch: async (request) => {
      if (request.body) await request.arrayBuffer();
      if (new URL(request.url).pathname.includes('stream')) {
        return new Response(new ReadableStream({ pull: (c) => (c.enqueue(new Uint8Array([111, 107])), c.close()) }), { headers: { 'Content-Type': 'text/plain' } });
      }
      return Response.json({ ok: true });
    },
  },
};

const GATEWAY_WARM_UP = [
  'GET /warm-up?x=1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: forkserve\r\nAccept: */*\r\n\r\n',
  'POST /warm-up HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a":[1,2]}',
  'PUT /warm-up/stream HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
  'HEAD /warm-up HTTP/1.1\r\nHost: localhost\r\n\r\n',
];

const WARM_UP_ROUNDS = 10;
const WARM_UP_TIMEOUT_MS = 10_000;

/**
 * Serves a few requests in this (the parent) process, over a real loopback connection, before any
 * fork: the code they run is compiled here once and inherited by every child, instead of being
 * compiled again, cold, in each (measured: an Express child's CPU per request 27 ms -> see
 * bench/README.md). Always: the gateway's own code, through a trivial app of the same interface.
 * With `paths`: GET requests to the app itself (its code runs: use routes without side effects).
 */
export async function warmUpGateway(app: LoadedApp, options: GatewayOptions, paths: string[]): Promise<void> {
  const quiet = { ...options, trace: undefined, keepAlive: true };
  await serveLoopback(gatewayHandler(WARM_UP_APPS[app.interface], quiet, () => {}), GATEWAY_WARM_UP);
  if (paths.length > 0) {
    const requests = paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: forkserve-warm-up\r\nAccept: */*\r\n\r\n`);
    await serveLoopback(gatewayHandler(app, quiet, reportAppError), requests);
  }
}

async function serveLoopback(handle: (fd: number, peer: SocketAddress) => Promise<void>, requests: string[]): Promise<void> {
  const listener = createListener({ host: '127.0.0.1', port: 0, backlog: 1 });
  try {
    for (let round = 0; round < WARM_UP_ROUNDS; round++) {
      const client = net.connect(listener.port, '127.0.0.1');
      client.on('data', () => {}).on('error', () => {});
      await once(client, 'connect');
      const closed = once(client, 'close');
      client.write([...requests, 'GET /warm-up HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'].join(''));
      const peer = accept(listener.fd);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          client.destroy();
          reject(new AppLoadError(`the warm-up requests (${requests.map((r) => r.split(' ', 2).join(' ')).join(', ')}) did not finish in ${WARM_UP_TIMEOUT_MS / 1000} s`));
        }, WARM_UP_TIMEOUT_MS);
      });
      try {
        await Promise.race([handle(peer.fd, peer).then(() => closed), timedOut]);
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    close(listener.fd);
  }
}
