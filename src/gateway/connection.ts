// One HTTP/1.1 connection served to an app through the event loop: bytes from the FdSocket go to
// our parser; each request becomes an Exchange of the app's interface (node listener or fetch);
// responses go out in request order (pipelining), one exchange writing at a time; keep-alive until
// the client leaves, an idle timeout or a response that closes. Parse errors get their status
// (400/413/414/431/501/505), a head that takes too long gets 408, both then a lingering close.
// drainConnections() (the server is stopping): requests begun are answered with Connection: close,
// idle connections close at once.

import { HttpParseError, statusForParseError } from '../http/errors';
import { RequestParser, type HeaderList, type RequestHead } from '../http/parser';
import { errorResponse } from '../http/response';
import type { SocketAddress } from '../posix';
import { FdSocket } from './fd-socket';
import { forwardedFor, type ForwardedTrust } from './forwarded';
import { RequestOutcome, bodyLength, type ResponseFacts } from './outcome';

export interface GatewayOptions {
  /** Value of the Server header. */
  server: string;
  /** Close an idle keep-alive connection after this long. */
  keepAliveTimeoutMs: number;
  /** A request head must arrive completely within this time once it has started (slowloris). */
  headersTimeoutMs: number;
  /**
   * The whole request (head and body) must arrive within this time of its first byte, however
   * steadily it trickles in, else 408 (node:http's requestTimeout; 0: no limit).
   */
  requestTimeoutMs?: number;
  maxBodyBytes: number;
  /** Cut a connection whose client takes no bytes of a response for this long (FdSocket; default SEND_TIMEOUT_MS). */
  sendTimeoutMs?: number;
  /** false: one request per connection, every response closes it (webserver2, like the tutorial). */
  keepAlive?: boolean;
  /** Sees each request head and each complete response (webserver2's `<`/`>` lines). */
  trace?: Tracer;
  /** Told when each request starts and when it is over (answered, or abandoned): a scoreboard. */
  observer?: RequestObserver;
  /** Proxies whose X-Forwarded-For/-Proto are believed (--forwarded-allow-ips); unset: none. */
  forwarded?: ForwardedTrust;
}

export interface RequestObserver {
  requestStarted(head: RequestHead): void;
  /** The request requestStarted saw is over; `outcome` says how (null unless `outcomes` is true). */
  requestFinished(outcome: RequestOutcome | null): void;
  /** With `outcomes`: an error the connection answered before a head arrived (400, 408, 431 ...); no requestStarted came first. */
  answeredWithoutRequest?(outcome: RequestOutcome): void;
  /** True: measure each request's outcome (status, body bytes, duration: an access log). */
  readonly outcomes?: boolean;
}

export interface Tracer {
  request(head: RequestHead): void;
  /** The bytes written for one response (possibly cut short), and how many there were in all. */
  response(bytes: Buffer, total: number): void;
}

/**
 * What the connection needs from one request/response pair, whatever the app's interface. What it
 * tells about its response (ResponseFacts: status, body bytes, headers) feeds the access log.
 */
export interface Exchange extends ResponseFacts {
  /** A slice of the request body; false asks the connection to stop reading until resumeReading(). */
  body(chunk: Buffer): boolean;
  /** The request body ended (trailers, if any). */
  complete(trailers: HeaderList): void;
  /** Hands the request to the app (after start() if it is first: node's res.socket is set by then). */
  run(): void;
  /** This exchange's turn to write (the responses before it are done). */
  start(): void;
  /** The request cannot complete or the connection is gone: tell the app. */
  abort(): void;
  /** Stop writing to the socket: the connection answers an error instead. */
  detach(): void;
  /** The server is stopping: this response says Connection: close (if its head is not out yet). */
  closeAfterResponse(): void;
  /** True once response bytes have been handed to the socket. */
  readonly responseStarted: boolean;
}

export interface ExchangeContext {
  socket: FdSocket;
  server: string;
  keepAliveTimeoutMs: number;
  /** false: the response must close the connection. */
  keepAlive: boolean;
  /** Starts reading again after body() returned false. */
  resumeReading(): void;
  /** The response is completely written; keepAlive false closes the connection after it. */
  done(keepAlive: boolean): void;
  /** Count the response's body bytes (responseBodyBytes): an observer wants outcomes. */
  countBody: boolean;
}

/** Creates the exchange for a request whose head has just been parsed (without calling the app yet). */
export type Dialect = (head: RequestHead, context: ExchangeContext) => Exchange;

/**
 * For an Upgrade or CONNECT request: the app's hand-over, if it takes such connections over (else
 * undefined: the request is answered as any other). The hand-over gets the socket, the app's from
 * then on, and the bytes that followed the request's head.
 */
export type Takeover = (head: RequestHead) => ((socket: FdSocket, rest: Buffer) => void) | undefined;

/** Requests waiting for their turn to answer, beyond which the connection is not read. */
const MAX_PIPELINED = 16;

/** Samples of a response kept for the trace (the head and the start of the body). */
const TRACE_BYTES = 2048;

/**
 * A connection whose last response went out less than this long ago when the server stops is in
 * use, not idle: a client under load sends its next request at once, and closing now would cross
 * it (the client reads EOF for a request it has sent). It gets that long to send it; the answer
 * says Connection: close. One quiet for longer is closed at once. Not 100 ms: on a loaded machine
 * (load 7+ on 2 cores) a busy client, or this worker, is off the CPU that long between two
 * requests, and wrk under HUP saw 8 to 30 read errors.
 */
export const DRAIN_GRACE_MS = 1000;

/** The drain function of each open connection in this process. */
const openConnections = new Set<() => void>();
let draining = false;

/**
 * The server is stopping: every open connection answers the requests it has begun with
 * Connection: close and reads no further request; an idle one closes now. So do connections
 * served from now on.
 */
export function drainConnections(): void {
  draining = true;
  for (const drain of [...openConnections]) drain();
}

/**
 * Serves HTTP on `fd` (an accepted, connected socket; the connection closes it). The promise
 * settles when the connection is closed.
 */
/** An Upgrade or CONNECT request the app takes over, and the bytes that followed its head so far. */
interface Upgrading {
  head: RequestHead;
  handOver: (socket: FdSocket, rest: Buffer) => void;
  rest: Buffer | null;
}

export function serveConnection(fd: number, peer: SocketAddress, dialect: Dialect, options: GatewayOptions, takeover?: Takeover): Promise<void> {
  return new Promise((resolve) => {
    let traced: Buffer[] = [];
    let tracedBytes = 0;
    let tracedTotal = 0;
    const trace = options.trace;
    const socket = new FdSocket(fd, {
      peer,
      sendTimeoutMs: options.sendTimeoutMs,
      tap: trace
        ? (chunk) => {
            tracedTotal += chunk.length;
            if (tracedBytes < TRACE_BYTES) {
              traced.push(chunk.subarray(0, TRACE_BYTES - tracedBytes));
              tracedBytes += Math.min(chunk.length, TRACE_BYTES - tracedBytes);
            }
          }
        : undefined,
    });
    // As node:http does (http.createServer's noDelay, on by default): a response written in two
    // pieces on a keep-alive connection would otherwise wait ~40 ms for the client's delayed ACK.
    socket.setNoDelay(true);
    const queue: Exchange[] = []; // in request order; queue[0] writes
    let receiving: Exchange | null = null; // the exchange whose request body is arriving
    let noMoreRequests = false;
    let closing = false;
    // 408 for a request that does not arrive in time: its head within headersTimeoutMs of its first
    // byte (or of the connection), its body without a pause that long (each read refreshes it).
    let requestTimer: NodeJS.Timeout | undefined;
    // 408 for a request not received in full within requestTimeoutMs of its first byte (a body
    // sent a byte a second never trips requestTimer, which each read refreshes).
    let deadlineTimer: NodeJS.Timeout | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    // Outcomes (an access log), measured only when the observer asks: when the request being read
    // began, and the request whose answer the connection wrote itself (fail()), with its status.
    const measure = options.observer?.outcomes === true;
    const peerAddress = socket.remoteAddress; // as accepted (per request, a trusted proxy's client replaces it)
    let requestBeganAt = measure ? performance.now() : 0;
    let replaced: Exchange | null = null;
    let replacedStatus = 0;
    let replacedBodyBytes = 0;

    function armRequestTimer(): void {
      if (measure) requestBeganAt = performance.now();
      requestTimer = setTimeout(() => {
        requestTimer = undefined;
        fail(408);
      }, options.headersTimeoutMs);
    }

    /** A request begins: its gap timer, and its deadline. */
    function requestBegins(): void {
      armRequestTimer();
      if (!options.requestTimeoutMs || deadlineTimer) return;
      deadlineTimer = setTimeout(() => {
        deadlineTimer = undefined;
        fail(408);
      }, options.requestTimeoutMs);
    }

    function stopTimers(): void {
      clearTimeout(requestTimer);
      requestTimer = undefined;
      clearTimeout(deadlineTimer);
      deadlineTimer = undefined;
      clearTimeout(idleTimer);
      idleTimer = undefined;
    }
    let pendingError = 0; // status to answer once the responses before it are done
    // An Upgrade request the app takes over, until its bytes are handed on (after the answers to the
    // requests pipelined before it: `rest` holds what came meanwhile); then the socket is the app's.
    let upgrading: Upgrading | null = null;
    let takenOver = false;
    let requests = 0; // heads received on this connection
    let lastResponseAt = 0;

    const parser = new RequestParser(
      {
        onHead(head) {
          requests++;
          if (options.forwarded) {
            // (a unix socket's peer is '' whatever name a client bound its own socket to)
            const client = forwardedFor(options.forwarded, peer.family === 'Unix' ? '' : peer.address, head.headers);
            socket.remoteAddress = client.address;
            socket.remoteFamily = client.address === undefined ? undefined : client.address.includes(':') ? 'IPv6' : 'IPv4';
            socket.encrypted = client.secure;
          }
          if (head.upgrade && takeover) {
            const handOver = takeover(head);
            if (handOver) {
              // As node:http: everything after this head is the app's, a body included; the socket
              // is handed over at onUpgrade, once the requests before it are answered.
              upgrading = { head, handOver, rest: null };
              return true;
            }
          }
          clearTimeout(requestTimer);
          requestTimer = undefined;
          trace?.request(head);
          // Over once: when the response is done, or when the exchange is aborted.
          let over = false;
          const outcome = measure ? new RequestOutcome(head, performance.now()) : null;
          const settle = (): void => {
            if (!over) {
              over = true;
              if (outcome) {
                if (exchange === replaced && replacedStatus !== 0) outcome.finish(replacedStatus, replacedBodyBytes, null);
                else outcome.finish(exchange.responseStatus, exchange.responseBodyBytes, exchange);
              }
              options.observer?.requestFinished(outcome);
            }
          };
          options.observer?.requestStarted(head);
          const exchange = dialect(head, {
            socket,
            server: options.server,
            keepAliveTimeoutMs: options.keepAliveTimeoutMs,
            keepAlive: options.keepAlive !== false && !head.upgrade && !draining,
            resumeReading: () => {
              if (!closing) socket.resume();
            },
            done: (keepAlive) => {
              settle();
              finished(exchange, keepAlive);
            },
            countBody: measure,
          });
          if (options.observer) {
            const abort = exchange.abort.bind(exchange);
            exchange.abort = () => {
              settle();
              abort();
            };
          }
          receiving = exchange;
          queue.push(exchange);
          if (queue.length === 1) exchange.start();
          // A flood of pipelined requests: stop reading until the answers catch up (node:http pauses too).
          if (queue.length >= MAX_PIPELINED) socket.pause();
          // The address now, as this request's app sees it (a proxy's client changes per request).
          if (outcome) outcome.remoteAddress = socket.remoteAddress;
          exchange.run();
          if (receiving === exchange && (head.chunked || (head.contentLength ?? 0) > 0)) armRequestTimer();
        },
        onBody(chunk) {
          if (receiving && !receiving.body(chunk)) socket.pause();
        },
        onMessageComplete(trailers) {
          const exchange = receiving;
          receiving = null;
          clearTimeout(requestTimer);
          requestTimer = undefined;
          clearTimeout(deadlineTimer);
          deadlineTimer = undefined;
          exchange?.complete(trailers);
          // Reading may have been paused for this body (backpressure); the next request must be read.
          if (!closing) socket.resume();
        },
        onUpgrade(rest) {
          // Bytes after an Upgrade/CONNECT request are not HTTP. An app that takes such connections
          // over gets the socket and those bytes; else they are dropped, and the response to the
          // request closes the connection (its exchange has keepAlive false).
          noMoreRequests = true;
          if (!upgrading) return;
          if (queue.length === 0) {
            handOver(upgrading, rest);
            return;
          }
          upgrading.rest = upgrading.rest ? Buffer.concat([upgrading.rest, rest]) : rest;
          socket.pause(); // the rest waits in the kernel until the answers before it are out
        },
      },
      { maxBodyBytes: options.maxBodyBytes },
    );

    function finished(exchange: Exchange, keepAlive: boolean): void {
      if (queue[0] !== exchange) return;
      queue.shift();
      lastResponseAt = Date.now();
      if (trace) {
        trace.response(Buffer.concat(traced), tracedTotal);
        traced = [];
        tracedBytes = 0;
        tracedTotal = 0;
      }
      if (!keepAlive) {
        noMoreRequests = true;
        for (const later of queue.splice(0)) later.abort();
        closeGracefully();
        return;
      }
      if (queue.length > 0) {
        if (queue.length === MAX_PIPELINED - 1 && receiving === null && !closing) socket.resume();
        queue[0].start();
        return;
      }
      if (pendingError) {
        answerError(pendingError);
        return;
      }
      if (upgrading?.rest) {
        handOver(upgrading, upgrading.rest);
        return;
      }
      if (noMoreRequests) {
        closeGracefully();
        return;
      }
      if (draining && parser.idle) {
        drain(); // its head said keep-alive: the client may be sending the next request already
        return;
      }
      if (parser.idle) idleTimer = setTimeout(() => socket.destroy(), options.keepAliveTimeoutMs);
    }

    function answerError(status: number): void {
      closing = true;
      const response = errorResponse(status, options.server);
      if (measure) answered(status, bodyLength(response));
      socket.endAndLinger(response);
    }

    /** The connection answers `status` itself: in place of the request fail() gave up on, or of one with no head yet. */
    function answered(status: number, bodyBytes: number): void {
      if (replaced) {
        replacedStatus = status; // its outcome is told when it is aborted (the socket closes)
        replacedBodyBytes = bodyBytes;
        return;
      }
      const outcome = new RequestOutcome(null, requestBeganAt);
      outcome.remoteAddress = peerAddress; // no head: no forwarded client of its own
      options.observer?.answeredWithoutRequest?.(outcome.finish(status, bodyBytes, null));
    }

    function closeGracefully(): void {
      if (closing) return;
      closing = true;
      socket.endAndLinger();
    }

    /** A request that cannot be read further: answer `status` in its place if it has not answered yet. */
    function fail(status: number): void {
      stopTimers();
      noMoreRequests = true;
      const broken = receiving;
      receiving = null;
      if (broken && !queue.includes(broken)) {
        // The app has answered in full before its request's body went wrong: keep that answer (no
        // reset), tell the app, close.
        broken.abort();
        closeGracefully();
        return;
      }
      if (broken) {
        queue.splice(queue.indexOf(broken), 1);
        broken.detach();
        if (broken.responseStarted) {
          // Half a response is on the wire already: all we can do is cut the connection.
          broken.abort();
          socket.destroy();
          return;
        }
        // The app hears 'aborted' when the socket closes (see 'close' below).
        socket.once('close', () => broken.abort());
        replaced = broken;
      }
      if (queue.length === 0) answerError(status);
      else pendingError = status;
    }

    function drain(): void {
      for (const exchange of queue) exchange.closeAfterResponse();
      // A connection that has not sent its first request yet was accepted before the stop: its
      // request is on the way and gets its answer (with Connection: close). Only one that has
      // been answered and sits idle closes now.
      if (requests > 0 && receiving === null && queue.length === 0 && parser.idle) {
        const grace = Math.min(DRAIN_GRACE_MS, options.keepAliveTimeoutMs);
        clearTimeout(idleTimer);
        idleTimer = setTimeout(closeIfStillIdle, Math.max(0, lastResponseAt + grace - Date.now()));
      }
    }

    /**
     * Closes a draining connection that has sent no further request. From the check phase: timers
     * run before I/O, so a process that was off the CPU past the grace would otherwise close a
     * connection whose next request is already in its socket; the poll phase reads it first, and
     * it is answered (Connection: close) instead.
     */
    function closeIfStillIdle(): void {
      idleTimer = undefined;
      const seen = requests;
      setImmediate(() => {
        if (closing || requests !== seen || receiving !== null || queue.length > 0 || !parser.idle) return;
        stopTimers();
        noMoreRequests = true;
        closeGracefully();
      });
    }

    // A connection that sends nothing at all is timed out like a slow head (node:http's headersTimeout
    // also runs from the connection's start).
    requestBegins();
    openConnections.add(drain);
    if (draining) drain();

    socket.on('data', onData);
    function onData(chunk: Buffer): void {
      if (noMoreRequests) return;
      clearTimeout(idleTimer);
      idleTimer = undefined;
      if (receiving !== null) requestTimer?.refresh(); // the body is still coming
      else if (parser.idle && !requestTimer) requestBegins(); // a new request begins
      try {
        parser.push(chunk);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        fail(statusForParseError(err.code));
        return;
      }
      // The next request began in the bytes that ended the one before: it is timed from here.
      if (!noMoreRequests && receiving === null && !parser.idle && !requestTimer) requestBegins();
    }

    /**
     * The connection is the app's from now on (a WebSocket): no more HTTP, no timers, no drain (the
     * app hears of a stop as it would under node:http, from its own signal listeners). Its access
     * log line comes when the socket closes: the status the app wrote first (101), the bytes sent.
     */
    function handOver(upgrade: Upgrading, rest: Buffer): void {
      upgrading = null;
      takenOver = true;
      stopTimers();
      clearTimeout(idleTimer);
      idleTimer = undefined;
      openConnections.delete(drain);
      socket.removeListener('data', onData);
      // As node:http does: the stream neither flows nor is paused, so the app's first 'data'
      // listener gets everything from here on (an app that sets up asynchronously loses nothing).
      (socket as { readableFlowing: boolean | null }).readableFlowing = null;
      if (options.observer) {
        const observer = options.observer;
        const outcome = observer.outcomes ? new RequestOutcome(upgrade.head, performance.now()) : null;
        if (outcome) outcome.remoteAddress = socket.remoteAddress;
        observer.requestStarted(upgrade.head);
        socket.noteFirstWrite();
        socket.once('close', () => observer.requestFinished(outcome?.finish(socket.firstStatus(), socket.bytesWritten, null) ?? null));
      }
      upgrade.handOver(socket, rest);
    }

    socket.on('end', () => {
      if (takenOver) return;
      // The client has finished sending. Like node:http (httpAllowHalfOpen false), this ends the
      // requests in flight: a client that closed cannot read their answers, so the app hears
      // 'aborted'/'close' (node) or its signal fires (fetch) now, not at its next write.
      stopTimers();
      noMoreRequests = true;
      if (closing) return; // lingering after our answer: the client's EOF is what we wait for
      if (queue.length === 0 && receiving === null) closeGracefully();
      else socket.destroy();
    });

    socket.on('error', () => {
      /* the client reset the connection; 'close' follows */
    });

    socket.once('close', () => {
      openConnections.delete(drain);
      stopTimers();
      const left = queue.splice(0);
      if (receiving && !left.includes(receiving)) left.push(receiving);
      receiving = null;
      for (const exchange of left) exchange.abort();
      resolve();
    });
  });
}
