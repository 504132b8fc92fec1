// --status-page HOST:PORT: an HTTP listener in the master (node:http; never on unless asked) with
//   /             an HTML table of the workers, refreshed every second by the page itself
//   /status.json  the status snapshot (what --status-socket sends)
// Anyone who reaches HOST:PORT sees the requests in flight: bind it to 127.0.0.1 or a private
// network. Workers inherit the listener and its open connections through fork(); they close them
// at once (closeInWorker).

import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { warn } from '../server/log';
import { STATUS_PAGE_HTML, STATUS_PAGE_SCRIPT, STATUS_PAGE_STYLE } from './status-page-html';
import type { StatusSnapshot } from './status-snapshot';
import { StatusListenError, type StatusListener } from './status-socket';

/** While the port is taken, as in a USR2 upgrade until the old master exits, listening is retried this often. */
const BUSY_RETRY_MS = 1000;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page runs only its own script and style, and talks only to this server. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(STATUS_PAGE_SCRIPT)}`,
  `style-src ${sha256(STATUS_PAGE_STYLE)}`,
  "connect-src 'self'",
  'img-src data:', // the empty icon, so the browser does not ask for /favicon.ico
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function answer(res: http.ServerResponse, status: number, type: string, body: string, head: boolean, extra: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...extra,
  });
  res.end(head ? undefined : body);
}

function handle(req: http.IncomingMessage, res: http.ServerResponse, snapshot: () => StatusSnapshot): void {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) return answer(res, 405, 'text/plain; charset=utf-8', 'GET or HEAD only\n', false, { Allow: 'GET, HEAD' });
  const pathname = (req.url ?? '/').split('?')[0];
  if (pathname === '/') return answer(res, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML, head, { 'Content-Security-Policy': CONTENT_SECURITY_POLICY });
  if (pathname === '/status.json') return answer(res, 200, 'application/json', `${JSON.stringify(snapshot())}\n`, head);
  answer(res, 404, 'text/plain; charset=utf-8', 'Not found: the status page is / and /status.json\n', head);
}

export interface StatusPageOptions {
  host: string;
  port: number;
  /** Keep trying while the port is in use (a new master in a USR2 upgrade, beside the old one) instead of failing. */
  waitForPort?: boolean;
}

/** Opens the status page; resolves once it listens (or, with waitForPort, once it is trying). */
export async function listenStatusPage({ host, port, waitForPort = false }: StatusPageOptions, snapshot: () => StatusSnapshot): Promise<StatusListener> {
  const server = http.createServer((req, res) => {
    try {
      handle(req, res, snapshot);
    } catch (err) {
      warn(`--status-page: ${(err as Error)?.stack ?? String(err)}`);
      res.destroy();
    }
  });
  const address = host || '0.0.0.0';
  const flag = `--status-page ${address.includes(':') ? `[${address}]` : address}:${port}`;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  try {
    await listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!(waitForPort && e.code === 'EADDRINUSE')) throw new StatusListenError(`${flag}: ${e.message}`);
    warn(`${flag}: in use; trying again every ${BUSY_RETRY_MS / 1000} s`);
    const again = (): void => {
      retry = setTimeout(() => {
        if (!closed) listen().then(() => warn(`${flag}: listening`), again);
      }, BUSY_RETRY_MS);
    };
    again();
  }
  server.on('error', (err) => {
    if (server.listening) warn(`${flag}: ${err.message}`); // retries while the port is in use stay quiet
  });
  const bound = server.address();
  const actualPort = bound && typeof bound === 'object' ? bound.port : port;
  return {
    line: `Status page: http://${address.includes(':') ? `[${address}]` : address}:${actualPort}/`,
    publish() {}, // it is reachable once it listens
    closeInWorker() {
      closed = true;
      clearTimeout(retry);
      server.closeAllConnections();
      server.close();
    },
    close() {
      closed = true;
      clearTimeout(retry);
      server.closeAllConnections();
      server.close();
    },
  };
}
