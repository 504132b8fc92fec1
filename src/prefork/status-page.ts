// --status-page HOST:PORT: an HTTP listener in the master (node:http; never on unless asked) with
//   /             an HTML table of the workers, refreshed every second by the page itself
//   /status.json  the status snapshot (what --status-socket sends)
// Anyone who reaches HOST:PORT sees the requests in flight (their query strings left out): bind it
// to 127.0.0.1 or a private network. It answers only requests addressed to it by an IP address,
// localhost or this machine's name (421 for others: DNS rebinding), from a snapshot made at most
// once a second (the master's). Workers inherit the listener and its open connections through fork(); they close them
// at once (closeInWorker).

import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { isIP } from 'node:net';
import * as os from 'node:os';
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

/**
 * The Host names the page answers to: an IP address (v4, or v6 in brackets), localhost or this
 * machine's name, with any port, or none (HTTP/1.0). A page that a browser on this host loaded from
 * another name cannot read it, even once that name resolves to this host (DNS rebinding: a name
 * that first pointed at the attacker's server, then at 127.0.0.1): browsers send its name.
 */
export function hostAllowed(host: string | undefined, hostname = os.hostname()): boolean {
  if (host === undefined) return true;
  let name = host.trim().toLowerCase();
  if (name.startsWith('[')) {
    const end = name.indexOf(']');
    return end > 0 && isIP(name.slice(1, end)) === 6 && /^(:\d+)?$/.test(name.slice(end + 1));
  }
  const colon = name.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^\d+$/.test(name.slice(colon + 1))) return false;
    name = name.slice(0, colon);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  return isIP(name) === 4 || name === 'localhost' || name === hostname.toLowerCase();
}

function handle(req: http.IncomingMessage, res: http.ServerResponse, snapshot: () => StatusSnapshot): void {
  const head = req.method === 'HEAD';
  if (!hostAllowed(req.headers.host)) {
    return answer(res, 421, 'text/plain; charset=utf-8', "Misdirected request: the status page answers to its IP address, localhost or this machine's name\n", head);
  }
  if (req.method !== 'GET' && !head) return answer(res, 405, 'text/plain; charset=utf-8', 'GET or HEAD only\n', false, { Allow: 'GET, HEAD' });
  const pathname = (req.url ?? '/').split('?')[0];
  if (pathname === '/') return answer(res, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML, head, { 'Content-Security-Policy': CONTENT_SECURITY_POLICY });
  if (pathname === '/status.json') return answer(res, 200, 'application/json', `${JSON.stringify(snapshot())}\n`, head);
  answer(res, 404, 'text/plain; charset=utf-8', 'Not found: the status page is / and /status.json\n', head);
}

/** Answers at most one request per PACE_MS (the page polls once a second per viewer). */
const PACE_MS = 20;
/** Requests waiting for their turn beyond which more are answered 503 at once. */
const PACE_QUEUE = 100;

/**
 * The page runs in the master, which must stay free for its workers: a flood of requests (20
 * connections asking as fast as they can took 87% of a core with the snapshot cached, all of it
 * HTTP) is answered at PACE_MS intervals, the queue bounded (503 beyond it). A viewer or a scraper
 * asking once a second never waits.
 */
function pacer(): (res: http.ServerResponse, answer: () => void) => void {
  let nextAt = 0;
  let waiting = 0;
  return (res, answer) => {
    const now = Date.now();
    if (now >= nextAt) {
      nextAt = now + PACE_MS;
      return answer();
    }
    if (waiting >= PACE_QUEUE) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '1', 'Cache-Control': 'no-store' });
      res.end('Too many requests to the status page\n');
      return;
    }
    waiting++;
    const at = nextAt;
    nextAt += PACE_MS;
    setTimeout(() => {
      waiting--;
      if (!res.destroyed) answer();
    }, at - now);
  };
}

export interface StatusPageOptions {
  host: string;
  port: number;
  /** Keep trying while the port is in use (a new master in a USR2 upgrade, beside the old one) instead of failing. */
  waitForPort?: boolean;
}

/** Opens the status page; resolves once it listens (or, with waitForPort, once it is trying). */
export async function listenStatusPage({ host, port, waitForPort = false }: StatusPageOptions, snapshot: () => StatusSnapshot): Promise<StatusListener> {
  const pace = pacer();
  const server = http.createServer((req, res) => {
    pace(res, () => {
      try {
        handle(req, res, snapshot);
      } catch (err) {
        warn(`--status-page: ${(err as Error)?.stack ?? String(err)}`);
        res.destroy();
      }
    });
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
