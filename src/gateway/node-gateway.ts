// The node:http interface: a `(req, res)` listener gets a real http.IncomingMessage and a real
// http.ServerResponse, as node:http's own server would hand it (Express, Connect, Koa's
// app.callback(), Fastify's routing rely on their prototypes). Our parser fills the request; the
// response serialises itself and writes to our FdSocket. Mirrors the wiring of node:http's
// parserOnIncoming/resOnFinish: keep-alive, Expect: 100-continue, 'aborted'/'close' on the
// request, 'finish'/'close' on the response, 'drain' for backpressure.

import { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHead, HeaderList } from '../http/parser';
import type { Dialect, Exchange, ExchangeContext, Takeover } from './connection';
import type { FdSocket } from './fd-socket';

export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** The parts of IncomingMessage/OutgoingMessage that node:http's server uses and we must too. */
interface InternalRequest extends IncomingMessage {
  _addHeaderLines(headers: string[], n: number): void;
  _dump(): void;
  _consuming: boolean;
  _readableState: { resumeScheduled: boolean };
}
interface InternalResponse extends ServerResponse {
  shouldKeepAlive: boolean;
  _keepAliveTimeout: number;
  _last: boolean;
  _closed: boolean;
  _expect_continue: boolean;
  detachSocket(socket: unknown): void;
  assignSocket(socket: unknown): void;
}

const CONTINUE_RE = /(?:^|\W)100-continue(?:$|\W)/i;

/** Body bytes the app handed to res.write()/res.end(), when the connection counts them (an access log). */
const kBodyBytes = Symbol('forkserve.bodyBytes');
interface CountedResponse extends InternalResponse {
  [kBodyBytes]: number;
  /** false for HEAD, 204, 304: node drops what is written. */
  _hasBody: boolean;
}

// Set as the response's own write/end (they survive Express's setPrototypeOf(res, app.response), and
// a compression middleware that wraps them counts what it compresses); module-level functions, so
// no closure per request. Counted: what node accepted to send, after the head.
function countingWrite(this: CountedResponse, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
  const closed = this.writableEnded || this.destroyed;
  const ok = (Object.getPrototypeOf(this) as { write: (...args: unknown[]) => boolean }).write.call(this, chunk, encoding, callback);
  if (!closed) countBody(this, chunk, encoding);
  return ok;
}

function countingEnd(this: CountedResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): CountedResponse {
  const closed = this.writableEnded || this.destroyed;
  (Object.getPrototypeOf(this) as { end: (...args: unknown[]) => unknown }).end.call(this, chunk, encoding, callback);
  if (!closed && typeof chunk !== 'function') countBody(this, chunk, encoding);
  return this;
}

function countBody(res: CountedResponse, chunk: unknown, encoding: unknown): void {
  if (!res._hasBody) return;
  if (typeof chunk === 'string') res[kBodyBytes] += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  else if (chunk instanceof Uint8Array) res[kBodyBytes] += chunk.byteLength;
}

// OutgoingMessage remembers "write() returned false" under a private symbol; node:http's server
// clears it when the socket drains, and so must we, or a later pipe() into the response would
// wait for a 'drain' that never comes.
const kNeedDrain = Object.getOwnPropertySymbols(new ServerResponse(new IncomingMessage(null as never))).find(
  (s) => s.description === 'kNeedDrain',
);

function flatten(headers: HeaderList): string[] {
  const flat: string[] = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}

/** The request as node:http hands it to an app: an IncomingMessage over `socket`, filled from `head`. */
function incomingMessage(head: RequestHead, socket: FdSocket): InternalRequest {
  const req = new IncomingMessage(socket as never) as InternalRequest;
  req.method = head.method;
  req.url = head.target;
  req.httpVersionMajor = head.versionMajor;
  req.httpVersionMinor = head.versionMinor;
  req.httpVersion = `${head.versionMajor}.${head.versionMinor}`;
  const flat = flatten(head.headers);
  req._addHeaderLines(flat, flat.length);
  return req;
}

/** An app's 'upgrade' or 'connect' listener, as node:http calls it: the request, the socket (the app's from now on), the bytes after the head. */
export type UpgradeListener = (req: IncomingMessage, socket: FdSocket, head: Buffer) => void;

/**
 * The connection's hand-over for Upgrade and CONNECT requests, for an app that listens for them
 * (an http.Server with 'upgrade' or 'connect' listeners: ws, socket.io): as node:http does, the
 * listener gets an IncomingMessage with no body (req.upgrade true), the socket and the bytes that
 * followed the head. An app without such listeners answers an Upgrade as a normal request.
 */
export function upgradeTakeover(listenerFor: (event: 'upgrade' | 'connect') => UpgradeListener | undefined, onError: (err: unknown) => void): Takeover {
  return (head) => {
    const listener = listenerFor(head.method === 'CONNECT' ? 'connect' : 'upgrade');
    if (!listener) return undefined;
    return (socket, rest) => {
      const req = incomingMessage(head, socket);
      (req as { upgrade?: boolean }).upgrade = true;
      req.complete = true;
      req.push(null);
      try {
        listener(req, socket, rest);
      } catch (err) {
        onError(err);
        socket.destroy();
      }
    };
  };
}

export interface NodeDialectOptions {
  /** True when the app answers `Expect: 100-continue` itself (an http.Server with 'checkContinue' listeners). */
  handlesContinue?: () => boolean;
}

export function nodeDialect(listener: NodeListener, onError: (err: unknown) => void, options: NodeDialectOptions = {}): Dialect {
  return (head, context) => new NodeExchange(head, context, listener, onError, options);
}

class NodeExchange implements Exchange {
  private readonly req: InternalRequest;
  private readonly res: InternalResponse;
  private readonly socket: FdSocket;
  private detached = false;
  private started = false;

  constructor(
    private readonly head: RequestHead,
    private readonly context: ExchangeContext,
    private readonly listener: NodeListener,
    private readonly onError: (err: unknown) => void,
    private readonly options: NodeDialectOptions,
  ) {
    const socket = (this.socket = context.socket);
    const req = (this.req = incomingMessage(head, socket));
    // (node 20 takes options as a second argument; its type declaration does not say so)
    const Response = ServerResponse as unknown as new (req: IncomingMessage, options: { highWaterMark: number }) => InternalResponse;
    const res = (this.res = new Response(req, { highWaterMark: socket.writableHighWaterMark }));
    res.shouldKeepAlive = head.keepAlive && context.keepAlive;
    res._keepAliveTimeout = context.keepAliveTimeoutMs;
    if (context.server) res.setHeader('Server', context.server);
    res.on('finish', () => this.onFinish());
    if (context.countBody) {
      const counted = res as CountedResponse;
      counted[kBodyBytes] = 0;
      Object.assign(counted, { write: countingWrite, end: countingEnd });
    }
  }

  run(): void {
    const { req, res, head, socket } = this;
    const expect = req.headers.expect;
    if (expect !== undefined && head.versionMinor >= 1 && head.versionMajor === 1) {
      if (!CONTINUE_RE.test(expect)) {
        res.writeHead(417);
        res.end();
        return;
      }
      res._expect_continue = true;
      if (!this.options.handlesContinue?.()) res.writeContinue();
    }
    try {
      this.listener(req, res);
    } catch (err) {
      this.onError(err);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end('Internal Server Error\n');
      } else {
        socket.destroy();
      }
    }
  }

  get responseStarted(): boolean {
    return this.started && this.res.headersSent;
  }

  get responseStatus(): number {
    return this.responseStarted ? this.res.statusCode : 0;
  }

  get responseBodyBytes(): number {
    return (this.res as CountedResponse)[kBodyBytes] ?? 0;
  }

  responseHeader(name: string): string | undefined {
    const value = this.res.getHeader(name);
    return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
  }

  body(chunk: Buffer): boolean {
    return this.req.push(chunk);
  }

  complete(trailers: HeaderList): void {
    const { req } = this;
    req.complete = true;
    if (trailers.length > 0) {
      const flat = flatten(trailers);
      req._addHeaderLines(flat, flat.length);
    }
    req.push(null);
  }

  start(): void {
    if (this.detached) return;
    this.started = true;
    this.socket.on('drain', this.onDrain);
    this.socket.on('timeout', this.onTimeout);
    this.res.assignSocket(this.socket);
  }

  abort(): void {
    const { req, res } = this;
    // As node:http's abortIncoming: an unfinished request ends with 'aborted', an ECONNRESET
    // 'error' (only if someone listens) and 'close'; a finished one with 'close'.
    if (!req.destroyed) req.destroy(req.complete ? undefined : Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    if (!this.started && !res.writableFinished) emitClose(res);
  }

  closeAfterResponse(): void {
    if (!this.res.headersSent) this.res.shouldKeepAlive = false;
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.release();
  }

  private readonly onDrain = (): void => {
    const res = this.res as unknown as Record<symbol, boolean>;
    if (kNeedDrain && res[kNeedDrain] && !this.res.writableEnded) {
      res[kNeedDrain] = false;
      this.res.emit('drain');
    }
  };

  /** req.setTimeout()/res.setTimeout() expire: as node:http's socketOnTimeout, unheard -> destroy. */
  private readonly onTimeout = (): void => {
    const { req, res, socket } = this;
    const heardByReq = !req.complete && req.emit('timeout', socket);
    const heardByRes = res.emit('timeout', socket);
    if (!heardByReq && !heardByRes) socket.destroy();
  };

  private release(): void {
    this.socket.removeListener('drain', this.onDrain);
    this.socket.removeListener('timeout', this.onTimeout);
    if (this.started && this.socket._httpMessage === this.res) this.res.detachSocket(this.socket);
  }

  private onFinish(): void {
    const { req, res } = this;
    // Nobody read the body: pull it off the wire so the next request can be parsed.
    if (!req._consuming && !req._readableState.resumeScheduled) req._dump();
    if (this.detached) return;
    this.release();
    process.nextTick(emitClose, res);
    this.context.done(!res._last);
  }
}

function emitClose(res: InternalResponse): void {
  if (!res._closed) {
    res.destroyed = true;
    res._closed = true;
    res.emit('close');
  }
}
