// The WHATWG fetch interface: `(Request) => Response | Promise<Response>` (Hono's app.fetch, and
// most new frameworks). The request body is a ReadableStream fed by our parser (with
// backpressure); the response is written by src/http/response: Content-Length when the app set
// it, chunked otherwise (close-delimited for HTTP/1.0). request.signal aborts when the client goes
// away before the response is complete.

import type { HeaderList, RequestHead } from '../http/parser';
import { CONTINUE_100, encodeBody, encodeEnd, errorResponse, serializeHead, type Framing, type OutgoingHeaders } from '../http/response';
import type { Dialect, Exchange, ExchangeContext } from './connection';
import { bodyLength } from './outcome';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

const NO_BODY_METHODS = new Set(['GET', 'HEAD']);

export function fetchDialect(handler: FetchHandler, onError: (err: unknown) => void): Dialect {
  return (head, context) => new FetchExchange(head, context, handler, onError);
}

class FetchExchange implements Exchange {
  private readonly abortController = new AbortController();
  /** Settles with the app's answer once run() has called it (null: answer 500). */
  private readonly response: Promise<Response | null>;
  private answer!: (response: Promise<Response | null>) => void;
  private request: Request | null = null;
  private bodyController: ReadableStreamDefaultController<Uint8Array> | null = null;
  private started = false;
  private detached = false;
  private closeAfter = false;
  private headWritten = false;
  private finished = false;
  /** What went out (an access log): the status of the head written, body bytes handed to the socket. */
  responseStatus = 0;
  responseBodyBytes = 0;
  private responseHeaders: Headers | null = null;

  constructor(
    private readonly head: RequestHead,
    private readonly context: ExchangeContext,
    private readonly handler: FetchHandler,
    private readonly onError: (err: unknown) => void,
  ) {
    this.response = new Promise((resolve) => (this.answer = resolve));
    try {
      this.request = this.buildRequest();
    } catch (err) {
      onError(err);
    }
  }

  run(): void {
    const { request, handler, head } = this;
    if (!request) return this.answer(Promise.resolve(null));
    const expect = head.fields.get('expect')?.[0];
    if (expect !== undefined && head.versionMajor === 1 && head.versionMinor >= 1 && !/(?:^|\W)100-continue(?:$|\W)/i.test(expect)) {
      return this.answer(Promise.resolve(new Response(null, { status: 417 })));
    }
    this.answer((async () => handler(request))().then(
      (response) => {
        if (response instanceof Response || isResponseLike(response)) return response as Response;
        this.onError(new TypeError(`the fetch handler returned ${describe(response)} instead of a Response`));
        return null;
      },
      (err) => {
        if (!this.abortController.signal.aborted) this.onError(err);
        return null;
      },
    ));
  }

  get responseStarted(): boolean {
    return this.headWritten;
  }

  responseHeader(name: string): string | undefined {
    return this.responseHeaders?.get(name) ?? undefined;
  }

  body(chunk: Buffer): boolean {
    const c = this.bodyController;
    if (!c) return true;
    try {
      c.enqueue(new Uint8Array(chunk));
    } catch {
      // The app cancelled the body (request.body.cancel()): the rest is read and dropped.
      this.bodyController = null;
      return true;
    }
    return (c.desiredSize ?? 0) > 0;
  }

  complete(_trailers: HeaderList): void {
    try {
      this.bodyController?.close();
    } catch {
      /* the app cancelled the body */
    }
    this.bodyController = null;
  }

  start(): void {
    if (this.started || this.detached) return;
    this.started = true;
    // Expect: 100-continue: the client waits for this before sending the body (node's writeContinue).
    const { head } = this;
    if (head.expectContinue && head.versionMajor === 1 && head.versionMinor >= 1 && this.bodyController) this.context.socket.write(CONTINUE_100);
    void this.writeResponse();
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    try {
      this.bodyController?.error(Object.assign(new Error('the client closed the connection'), { code: 'ECONNRESET' }));
    } catch {
      /* already closed */
    }
    this.bodyController = null;
    this.abortController.abort();
  }

  detach(): void {
    this.detached = true;
  }

  closeAfterResponse(): void {
    this.closeAfter = true;
  }

  private buildRequest(): Request {
    const { head, context } = this;
    const headers = new Headers();
    for (const [name, value] of head.headers) headers.append(name, value);
    const host = headers.get('host') ?? `${context.socket.localAddress}:${context.socket.localPort}`;
    const url = /^https?:\/\//i.test(head.target) ? head.target : `${context.socket.encrypted ? 'https' : 'http'}://${host}${head.target.startsWith('/') ? '' : '/'}${head.target === '*' ? '' : head.target}`;
    const init: RequestInit & { duplex?: 'half' } = { method: head.method, headers, signal: this.abortController.signal };
    if (!NO_BODY_METHODS.has(head.method) && (head.chunked || (head.contentLength ?? 0) > 0)) {
      init.body = new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            this.bodyController = controller;
          },
          pull: () => context.resumeReading(),
        },
        { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
      );
      init.duplex = 'half';
    }
    return new Request(url, init);
  }

  private async writeResponse(): Promise<void> {
    const response = await this.response;
    if (this.finished || this.detached) return;
    const { socket, server } = this.context;
    if (!response) {
      this.answer500();
      return;
    }
    const { head } = this;
    const headers: OutgoingHeaders = [];
    let contentLength: number | null = null;
    for (const [name, value] of response.headers) {
      if (name === 'set-cookie' && typeof response.headers.getSetCookie === 'function') continue;
      if (name === 'content-length') {
        const n = Number(value);
        if (/^\d+$/.test(value) && Number.isSafeInteger(n)) contentLength = n;
        continue;
      }
      headers.push([name, value]);
    }
    // (a Response from another fetch implementation may lack getSetCookie: its iteration then had them)
    if (typeof response.headers.getSetCookie === 'function') for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
    // No body: length 0, except for HEAD, where the length would be the GET response's (unknown here).
    if (response.body === null && contentLength === null && head.method !== 'HEAD') contentLength = 0;
    // A body that is already complete (new Response('text'), JSON) gets a Content-Length rather
    // than chunked framing: read what is ready without waiting.
    let reader: ReadableStreamDefaultReader<Uint8Array> | null = response.body?.getReader() ?? null;
    let ready: Uint8Array[] = [];
    let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
    if (reader && contentLength === null) {
      const early = await readReady(reader);
      if (this.finished) return void reader.cancel().catch(() => {});
      ready = early.chunks;
      pending = early.pending;
      if (early.done) {
        contentLength = ready.reduce((n, c) => n + c.byteLength, 0);
        reader = null;
      }
    }
    let out: { bytes: Buffer; framing: Framing; keepAlive: boolean };
    try {
      out = serializeHead(head, { status: response.status, reason: response.statusText || undefined, headers, contentLength, server, close: !this.context.keepAlive || this.closeAfter });
    } catch (err) {
      this.onError(err);
      this.answer500();
      return;
    }
    this.headWritten = true;
    socket.write(out.bytes);
    this.responseStatus = response.status;
    this.responseHeaders = response.headers;
    if (out.framing === 'none') {
      void reader?.cancel().catch(() => {});
      this.end(out.keepAlive);
      return;
    }
    let written = 0;
    try {
      for (;;) {
        let value: Uint8Array;
        if (ready.length > 0) value = ready.shift()!;
        else {
          if (!reader) break;
          const next = await (pending ?? reader.read());
          pending = undefined;
          if (this.finished) return void reader.cancel().catch(() => {});
          if (next.done) break;
          value = next.value;
        }
        if (value.byteLength === 0) continue;
        written += value.byteLength;
        if (contentLength !== null && written > contentLength) throw new Error(`the response body is longer than its Content-Length (${contentLength})`);
        let ok = true;
        for (const piece of encodeBody(out.framing, Buffer.from(value.buffer, value.byteOffset, value.byteLength))) ok = socket.write(piece);
        this.responseBodyBytes += value.byteLength;
        if (!ok) await drained(socket);
      }
      if (contentLength !== null && written < contentLength) throw new Error(`the response body is shorter than its Content-Length (${written} < ${contentLength})`);
    } catch (err) {
      if (this.finished) return;
      // Half a response is on the wire: the only honest signal left is to cut the connection.
      this.onError(err);
      this.finished = true;
      socket.destroy();
      return;
    }
    for (const piece of encodeEnd(out.framing)) socket.write(piece);
    this.end(out.keepAlive);
  }

  /** 500 in place of an answer the app could not give (nothing of it is on the wire yet). */
  private answer500(): void {
    this.headWritten = true;
    const answer = errorResponse(500, this.context.server);
    this.context.socket.write(answer);
    this.responseStatus = 500;
    this.responseBodyBytes = bodyLength(answer);
    this.end(false);
  }

  private end(keepAlive: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.bodyController = null;
    const { socket } = this.context;
    // done() once the bytes are on their way, so the responses after this one stay in order.
    if (socket.writableNeedDrain) socket.once('drain', () => this.context.done(keepAlive));
    else this.context.done(keepAlive);
  }
}

const PENDING = Symbol('pending');

/** The chunks a reader can give without waiting, and whether the stream ended among them. */
async function readReady(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<{ chunks: Uint8Array[]; done: boolean; pending?: Promise<ReadableStreamReadResult<Uint8Array>> }> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const read = reader.read();
    // Already settled (or settling within a microtask or two) -> its result; otherwise it would block.
    const result = await Promise.race([read, new Promise<typeof PENDING>((resolve) => setImmediate(resolve, PENDING))]);
    // Would block: keep the read in flight, its chunk comes first once the body continues.
    if (result === PENDING) return { chunks, done: false, pending: read };
    if (result.done) return { chunks, done: true };
    chunks.push(result.value);
  }
  return { chunks, done: false };
}

function drained(socket: { once(event: string, fn: () => void): unknown; destroyed: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('drain', resolve);
    socket.once('close', resolve);
  });
}

/** A Response from another fetch implementation (the undici package, a polyfill): same shape. */
function isResponseLike(value: unknown): boolean {
  const r = value as { status?: unknown; headers?: { get?: unknown; [Symbol.iterator]?: unknown }; body?: { getReader?: unknown } | null };
  return (
    typeof r?.status === 'number' &&
    typeof r.headers?.get === 'function' &&
    typeof r.headers[Symbol.iterator] === 'function' &&
    (r.body === null || typeof r.body?.getReader === 'function')
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return typeof value;
}
