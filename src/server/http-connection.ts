// One HTTP/1.1 connection in a forked child, with blocking I/O (the child has nothing else to do):
// read with poll() timeouts, parse with src/http, answer each request with `app`, keep the
// connection for further requests while keep-alive allows (up to an idle timeout), answer a parse
// error with its mapped status and close. A head that does not complete within the header timeout
// (slowloris) gets 408. When the server stops (its stop descriptor hangs up), an idle connection
// closes at once and a request in progress is answered with Connection: close.
//
// Why a second connection engine next to the gateway's (gateway/connection.ts), which serves apps:
// measured on the same hello bytes in one run (bench/results/engines-2026-11-27.md, 3 interleaved
// rounds), the gateway answers 0.77x this loop's req/s with ab (a fork per request) and 0.26x with
// wrk (keep-alive: 1.13 against 0.28 ms of CPU per request: streams, IncomingMessage and
// ServerResponse against one recv, one parse and one send). The parser and the response writer are
// shared (src/http), and the socket-level corpus and split tests run through both engines.

import { DRAIN_GRACE_MS } from '../gateway/connection';
import { HttpParseError, statusForParseError } from '../http/errors';
import { RequestParser, type RequestHead } from '../http/parser';
import { CONTINUE_100, encodeBody, encodeEnd, errorResponse, serializeHead, type OutgoingHeaders } from '../http/response';
import { POLLIN, SHUT_WR, isErrno, poll, recv, sendall, shutdown } from '../posix';

export interface SimpleResponse {
  status: number;
  headers: OutgoingHeaders;
  body: Buffer;
}

/** A request handler for the built-in apps: the whole body in, a whole response out. */
export type SimpleApp = (head: RequestHead, body: Buffer) => SimpleResponse;

export interface ConnectionOptions {
  server: string;
  /** Close an idle keep-alive connection after this long. */
  keepAliveTimeoutMs: number;
  /** A request head must arrive completely within this time once it has started (slowloris). */
  headersTimeoutMs: number;
  maxBodyBytes: number;
  /** Readable (hung up) once the server stops: finish the request in progress, then close. */
  stopFd?: number;
}

export const KEEP_ALIVE_TIMEOUT_MS = 5000;
export const HEADERS_TIMEOUT_MS = 10_000;

const READ_SIZE = 64 * 1024;

/** Serves requests on fd until the client leaves, keep-alive ends, a timeout or a parse error. */
export function serveHttpConnection(fd: number, app: SimpleApp, options: ConnectionOptions): void {
  const queue: { head: RequestHead; body: Buffer }[] = [];
  let head: RequestHead | null = null;
  let body: Buffer[] = [];
  const parser = new RequestParser(
    {
      onHead: (h) => {
        head = h;
        body = [];
        if (h.expectContinue && h.versionMinor >= 1) sendall(fd, CONTINUE_100);
      },
      onBody: (chunk) => body.push(Buffer.from(chunk)),
      onMessageComplete: () => {
        queue.push({ head: head!, body: Buffer.concat(body) });
        head = null;
      },
    },
    { maxBodyBytes: options.maxBodyBytes },
  );
  const buf = Buffer.allocUnsafe(READ_SIZE);
  let started = 0; // when the request being read began to arrive (0: waiting between requests)
  let answered = 0;
  let lastResponseAt = 0;
  for (;;) {
    const waitMs = started ? started + options.headersTimeoutMs - Date.now() : options.keepAliveTimeoutMs;
    // Between requests the server's stop ends the connection; a request already arriving is finished,
    // and so is the first one of a connection accepted before the stop.
    let woke = waitFor(fd, Math.max(0, waitMs), started || answered === 0 ? undefined : options.stopFd);
    // A connection answered moments ago is in use: its next request may be on the way (DRAIN_GRACE_MS).
    if (woke === 'stop') woke = waitFor(fd, Math.max(0, lastResponseAt + DRAIN_GRACE_MS - Date.now()));
    if (woke !== 'client') {
      if (started) refuse(fd, 408, options.server);
      return; // an idle keep-alive connection is simply closed
    }
    const n = receive(fd, buf);
    if (n <= 0) return; // the client closed (or reset) the connection
    if (!started) started = Date.now();
    try {
      parser.push(buf.subarray(0, n));
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      // The requests completed before the bad bytes are answered first (unless one closes).
      for (const req of queue.splice(0)) {
        if (!respond(fd, req.head, req.body, app, options)) return;
      }
      refuse(fd, statusForParseError(err.code), options.server);
      return;
    }
    if (queue.length > 0) {
      for (const req of queue.splice(0)) {
        answered++;
        if (!respond(fd, req.head, req.body, app, options)) return;
      }
      lastResponseAt = Date.now();
      started = parser.idle ? 0 : Date.now();
    }
  }
}

function respond(fd: number, head: RequestHead, body: Buffer, app: SimpleApp, options: ConnectionOptions): boolean {
  let res: SimpleResponse;
  try {
    res = app(head, body);
  } catch {
    sendQuietly(fd, errorResponse(500, options.server));
    return false;
  }
  const out = renderResponse(head, res, options.server, stopped(options.stopFd));
  if (!sendQuietly(fd, out.bytes)) return false;
  return out.keepAlive;
}

/** The whole response on the wire for `res`, and whether the connection stays open after it. */
function renderResponse(head: RequestHead, res: SimpleResponse, server: string, close = false): { bytes: Buffer; keepAlive: boolean } {
  const out = serializeHead(head, { status: res.status, headers: res.headers, contentLength: res.body.length, server, close });
  return { bytes: Buffer.concat([out.bytes, ...encodeBody(out.framing, res.body), ...encodeEnd(out.framing)]), keepAlive: out.keepAlive };
}

const LINGER_MS = 500;

/**
 * Sends an error response, then closes gracefully: our side is shut down first and what the
 * client still sends is read and dropped for a moment, because closing a socket with unread input
 * sends a reset that can destroy the response before the client reads it.
 */
function refuse(fd: number, status: number, server: string): void {
  if (!sendQuietly(fd, errorResponse(status, server))) return;
  try {
    shutdown(fd, SHUT_WR);
  } catch {
    return;
  }
  const deadline = Date.now() + LINGER_MS;
  const sink = Buffer.allocUnsafe(16 * 1024);
  while (Date.now() < deadline && waitFor(fd, deadline - Date.now()) === 'client') {
    if (receive(fd, sink) <= 0) return;
  }
}

/** True once the server's stop descriptor has hung up (readable). */
function stopped(stopFd: number | undefined): boolean {
  return stopFd !== undefined && waitFor(stopFd, 0) === 'client';
}

/** poll() on the client (and the stop descriptor): which became readable first, or 'timeout'. */
function waitFor(fd: number, timeoutMs: number, stopFd?: number): 'client' | 'stop' | 'timeout' {
  const fds = stopFd === undefined ? [{ fd, events: POLLIN }] : [{ fd, events: POLLIN }, { fd: stopFd, events: POLLIN }];
  for (;;) {
    try {
      const revents = poll(fds, Math.ceil(timeoutMs));
      return revents[0] !== 0 ? 'client' : revents[1] ? 'stop' : 'timeout';
    } catch (err) {
      if (!isErrno(err, 'EINTR')) throw err;
    }
  }
}

function receive(fd: number, buf: Buffer): number {
  for (;;) {
    try {
      return recv(fd, buf, 0, buf.length);
    } catch (err) {
      if (isErrno(err, 'EINTR')) continue;
      if (isErrno(err, 'ECONNRESET', 'ETIMEDOUT')) return 0;
      throw err;
    }
  }
}

/** Sends, treating a client that went away as the end of the conversation. */
function sendQuietly(fd: number, data: Buffer): boolean {
  try {
    sendall(fd, data);
    return true;
  } catch (err) {
    if (isErrno(err, 'EPIPE', 'ECONNRESET')) return false;
    throw err;
  }
}

const WARM_UP_REQUESTS = [
  'GET /warm-up?x=1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: forkserve\r\nAccept: */*\r\n\r\n',
  'GET /warm-up HTTP/1.0\nHost: localhost\n\n',
  'POST /warm-up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi',
  'PUT /warm-up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\nhi\r\n0\r\n\r\n',
];

/**
 * Runs the request path (parser, app, response writer) a few times in the parent, without I/O.
 * Every child starts from the parent's state: code V8 compiles here (functions, regular
 * expressions) is inherited, instead of being compiled again, cold, in every child.
 */
export function warmUpHttpPath(app: SimpleApp, options: ConnectionOptions): void {
  for (let round = 0; round < 10; round++) {
    for (const text of WARM_UP_REQUESTS) {
      let body: Buffer[] = [];
      let current: RequestHead | null = null;
      const parser = new RequestParser(
        {
          onHead: (h) => {
            current = h;
            body = [];
          },
          onBody: (b) => body.push(Buffer.from(b)),
          onMessageComplete: () => renderResponse(current!, app(current!, Buffer.concat(body)), options.server),
        },
        { maxBodyBytes: options.maxBodyBytes },
      );
      parser.push(Buffer.from(text, 'latin1'));
    }
  }
  errorResponse(400, options.server);
}
