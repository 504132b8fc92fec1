// An incremental, strict HTTP/1.1 request parser: Buffer in, callbacks out, any chunking.
//
// Strict on framing (RFC 9112): Content-Length with Transfer-Encoding, differing or malformed
// Content-Length, a Transfer-Encoding whose last coding is not chunked, obs-fold, whitespace
// before the colon, bare CR, NUL and other control characters, and invalid token characters are
// all rejected; so are a request-target that is not in the form its method allows, duplicate
// Host/Content-Type/Content-Length, Transfer-Encoding in HTTP/1.0, framing and routing fields in
// trailers, and bytes after a message that closes the connection. Deliberately lenient: LF-only
// line endings (the tutorial's own client sends them; but one message must not mix LF and CRLF),
// empty lines before the request line (RFC 9112 §2.2), any upper-case token as a method. The limits bound the
// memory one connection can hold: only the current line of a head or chunk header is buffered,
// bodies are passed through as slices of the input.

import { HttpParseError, type ParseErrorCode } from './errors';

export interface ParserOptions {
  /** Longest request line; longer -> 414. */
  maxRequestLineBytes: number;
  /** Longest header (or trailer) field line; longer -> 431. */
  maxFieldBytes: number;
  /** Most header fields in one head; more -> 431. */
  maxFields: number;
  /** Largest head (request line + fields); larger -> 431. */
  maxHeadBytes: number;
  /** Largest body; larger -> 413. */
  maxBodyBytes: number;
  /** HTTP/1.1 requests must carry exactly one Host (RFC 9112 §3.2). */
  requireHost: boolean;
}

export const DEFAULT_PARSER_OPTIONS: Readonly<ParserOptions> = Object.freeze({
  maxRequestLineBytes: 8192,
  maxFieldBytes: 8192,
  maxFields: 100,
  maxHeadBytes: 64 * 1024,
  maxBodyBytes: Number.MAX_SAFE_INTEGER,
  requireHost: true,
});

export type HeaderList = [name: string, value: string][];

export interface RequestHead {
  method: string;
  /** The request-target as sent: origin-form, absolute-form, authority-form (CONNECT) or '*'. */
  target: string;
  versionMajor: number;
  versionMinor: number;
  /** Fields with their original case, in order. */
  headers: HeaderList;
  /** Lower-case field name -> its values, in order. */
  fields: Map<string, string[]>;
  contentLength: number | null;
  chunked: boolean;
  keepAlive: boolean;
  /** CONNECT, or Upgrade with "Connection: upgrade": the bytes after this message are not HTTP. */
  upgrade: boolean;
  expectContinue: boolean;
}

export interface ParserCallbacks {
  /** True: the bytes after this head are not HTTP (an upgrade taken over): the parser stops at onUpgrade. */
  onHead(head: RequestHead): boolean | void;
  onBody?(chunk: Buffer): void;
  onMessageComplete(trailers: HeaderList): void;
  /** After an upgrade (or CONNECT) message: the bytes that followed it. The parser stops. */
  onUpgrade?(rest: Buffer): void;
}

/** The first value of a field, by lower-case name. */
export function headerValue(head: RequestHead, lowerName: string): string | undefined {
  return head.fields.get(lowerName)?.[0];
}

// RFC 9110 §5.6.2 tchar
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1;
// method: a token, upper case (methods are case-sensitive; "get" is not GET)
const METHOD = TOKEN.slice();
for (let c = 0x61; c <= 0x7a; c++) METHOD[c] = 0;
// field-value octets: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5)
const FIELD_VALUE = new Uint8Array(256);
for (let i = 0x20; i < 0x100; i++) FIELD_VALUE[i] = i === 0x7f ? 0 : 1;
FIELD_VALUE[0x09] = 1;
// request-target octets: visible ASCII (RFC 9112 §3.2, RFC 3986: anything else is percent-encoded)
const TARGET = new Uint8Array(256);
for (let i = 0x21; i < 0x7f; i++) TARGET[i] = 1;
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const MAX_CHUNK_HEX_DIGITS = 13; // 2^52: larger sizes are rejected rather than rounded
const KNOWN_CODINGS = new Set(['chunked', 'gzip', 'x-gzip', 'deflate', 'compress', 'x-compress', 'identity']);
/** Fields that may appear once at most (RFC 9110 §5.3: a list would be ambiguous or a smuggling vector). */
const SINGLETONS = new Set(['host', 'content-length', 'content-type']);
/** Fields a trailer must not carry: framing, routing, and what shapes how the request is processed (RFC 9110 §6.5.1). */
const FORBIDDEN_TRAILERS = new Set([
  'content-length', 'transfer-encoding', 'host', 'trailer', 'te', 'connection', 'content-encoding', 'content-range',
  'expect', 'max-forwards', 'authorization', 'range',
]);
/** Methods whose request-target may be '*' (OPTIONS, SSDP's M-SEARCH, the HTTP/2 preface PRI). */
const ASTERISK_METHODS = new Set(['OPTIONS', 'M-SEARCH', 'PRI']);

type State = 'head' | 'complete' | 'body' | 'chunkSize' | 'chunkData' | 'chunkDataEnd' | 'trailers' | 'upgraded' | 'closed' | 'error';

export class RequestParser {
  private readonly options: ParserOptions;
  private state: State = 'head';
  private pending: Buffer | null = null;
  /** Stream offset of the first byte of `pending` / of the current input. */
  private base = 0;
  private error: HttpParseError | null = null;

  // the head being read
  private sawRequestLine = false;
  private headBytes = 0;
  private method = '';
  private target = '';
  private versionMajor = 1;
  private versionMinor = 1;
  private headers: HeaderList = [];
  private seen = new Set<string>(); // lower-case names of singleton/framing fields in this head
  private contentLength: number | null = null;
  private transferEncoding = false;
  /** The message's line ending, set by its request line: true CRLF, false LF. */
  private crlf = true;
  private trailers: HeaderList = [];
  private head: RequestHead | null = null;

  // the body being read
  private remaining = 0;
  private bodyBytes = 0;

  constructor(
    private readonly callbacks: ParserCallbacks,
    options: Partial<ParserOptions> = {},
  ) {
    this.options = { ...DEFAULT_PARSER_OPTIONS, ...options };
  }

  /** True between messages: EOF here is clean. */
  get idle(): boolean {
    return this.state === 'head' && !this.sawRequestLine && this.pending === null;
  }

  /** Feeds bytes. Throws HttpParseError (and stays failed) on invalid input. */
  push(chunk: Buffer): void {
    if (this.error) throw this.error;
    if (this.state === 'upgraded') {
      this.callbacks.onUpgrade?.(chunk);
      return;
    }
    let data = chunk;
    if (this.pending) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    try {
      this.run(data);
    } catch (err) {
      if (err instanceof HttpParseError) {
        this.error = err;
        this.state = 'error';
      }
      throw err;
    }
  }

  /** End of input. Throws HPE_INVALID_EOF_STATE when a message is unfinished. */
  finish(): void {
    if (this.error) throw this.error;
    if (this.state === 'upgraded' || this.state === 'closed' || this.idle) return;
    this.fail('HPE_INVALID_EOF_STATE', 'connection closed in the middle of a request', 0);
  }

  private fail(code: ParseErrorCode, message: string, at: number): never {
    throw new HttpParseError(code, message, this.base + at);
  }

  private run(data: Buffer): void {
    let pos = 0;
    while (pos < data.length) {
      switch (this.state) {
        case 'body': {
          const n = Math.min(this.remaining, data.length - pos);
          this.callbacks.onBody?.(data.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) pos = this.messageComplete(data, pos);
          break;
        }
        case 'chunkData': {
          const n = Math.min(this.remaining, data.length - pos);
          this.callbacks.onBody?.(data.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunkDataEnd';
          break;
        }
        case 'upgraded':
          this.callbacks.onUpgrade?.(data.subarray(pos));
          return;
        case 'closed':
          // Stray line endings after the last message are ignored; anything else is an error.
          if (data[pos] !== CR && data[pos] !== LF) this.fail('HPE_CLOSED_CONNECTION', 'data after a message that closes the connection', pos);
          pos++;
          break;
        default: {
          const lf = data.indexOf(LF, pos);
          if (lf === -1) {
            this.checkPartialLine(data, pos);
            // A copy, not a slice: the caller may reuse its buffer for the next read (the built-in
            // app's loop does), and a kept slice would then change under us. Bounded by the checks above.
            this.pending = Buffer.from(data.subarray(pos));
            this.base += pos;
            return;
          }
          const next = this.line(data, pos, lf);
          pos = next;
        }
      }
    }
    this.base += pos;
  }

  /** Limits apply before the line is complete, so a peer cannot make us buffer without bound. */
  private checkPartialLine(data: Buffer, pos: number): void {
    const len = data.length - pos;
    // A CR as the last byte may be the start of CRLF; any other CR is bare.
    const cr = data.indexOf(CR, pos);
    const bareCr = cr !== -1 && cr < data.length - 1;
    this.checkLineStart(data, pos, bareCr ? cr : data[data.length - 1] === CR ? data.length - 1 : data.length);
    if (bareCr) this.fail('HPE_LF_EXPECTED', 'bare CR (not followed by LF)', cr);
    if (this.state === 'head') {
      if (!this.sawRequestLine && len > this.options.maxRequestLineBytes) this.fail('HPE_URI_TOO_LONG', 'request line too long', pos);
      if (this.sawRequestLine && len > this.options.maxFieldBytes) this.fail('HPE_HEADER_OVERFLOW', 'header field too long', pos);
      if (this.headBytes + len > this.options.maxHeadBytes) this.fail('HPE_HEADER_OVERFLOW', 'head too large', pos);
    } else if (this.state === 'trailers') {
      if (len > this.options.maxFieldBytes) this.fail('HPE_HEADER_OVERFLOW', 'trailer field too long', pos);
    } else if (len > this.options.maxFieldBytes) {
      this.fail('HPE_INVALID_CHUNK_SIZE', 'chunk size line too long', pos);
    }
  }

  /**
   * Errors visible in data[start, end) of a head line, complete or not: the request line's syntax so
   * far, or obs-fold. Both the partial-line and the complete-line paths call it before reporting a
   * bare CR, so every chunking reports the error found at the earliest offset.
   */
  private checkLineStart(data: Buffer, start: number, end: number): void {
    if (this.state !== 'head' || start === end) return;
    if (this.sawRequestLine) {
      if (data[start] === SP || data[start] === HT) this.fail('HPE_INVALID_HEADER_TOKEN', 'obsolete line folding', start);
      return;
    }
    let i = start;
    while (i < end && METHOD[data[i]]) i++;
    if (i === end) return;
    if (data[i] !== SP || i === start) this.fail('HPE_INVALID_METHOD', 'invalid character in method', i);
    const targetStart = ++i;
    while (i < end && TARGET[data[i]]) i++;
    if (i === end) return;
    if (data[i] !== SP || i === targetStart) this.fail('HPE_INVALID_URL', 'invalid character in request target', i);
    const v = i + 1;
    const prefix = 'HTTP/1.';
    for (let k = v; k < end && k - v < prefix.length; k++) {
      if (data[k] === prefix.charCodeAt(k - v)) continue;
      const unsupported = k - v === 5 && isDigit(data[k]);
      this.fail(unsupported ? 'HPE_UNSUPPORTED_VERSION' : 'HPE_INVALID_VERSION', 'invalid HTTP version', k);
    }
    if (end - v > 8) this.fail('HPE_INVALID_VERSION', 'invalid HTTP version', v + 8);
  }

  /** Handles the line data[start, lf) and returns the position after it. */
  private line(data: Buffer, start: number, lf: number): number {
    let end = lf;
    const hasCr = end > start && data[end - 1] === CR;
    if (hasCr) end--;
    const cr = data.indexOf(CR, start);
    const bareCr = cr !== -1 && cr < end;
    const setsEnding = this.state === 'head' && !this.sawRequestLine; // the request line sets the message's line ending
    if (bareCr || (!setsEnding && hasCr !== this.crlf)) {
      this.checkLineStart(data, start, bareCr ? cr : end); // an earlier error in the line wins
      if (bareCr) this.fail('HPE_LF_EXPECTED', 'bare CR (not followed by LF)', cr);
      this.fail(this.crlf ? 'HPE_CR_EXPECTED' : 'HPE_LF_EXPECTED', 'a message mixes CRLF and LF line endings', lf);
    }
    if (setsEnding && end > start) this.crlf = hasCr;
    const next = lf + 1;
    switch (this.state) {
      case 'head':
        this.headLine(data, start, end, next);
        return this.state === 'head' ? next : this.afterHead(data, next);
      case 'chunkSize':
        this.chunkSizeLine(data, start, end);
        return next;
      case 'chunkDataEnd':
        if (end !== start) this.fail('HPE_STRICT', 'expected CRLF after chunk data', start);
        this.state = 'chunkSize';
        return next;
      case 'trailers':
        if (end === start) return this.messageComplete(data, next);
        if (this.trailers.length >= this.options.maxFields) this.fail('HPE_HEADER_OVERFLOW', 'too many trailer fields', start);
        if (end - start > this.options.maxFieldBytes) this.fail('HPE_HEADER_OVERFLOW', 'trailer field too long', start);
        {
          const f = this.field(data, start, end);
          if (FORBIDDEN_TRAILERS.has(f[0].toLowerCase())) this.fail('HPE_INVALID_HEADER_TOKEN', `'${f[0]}' is not allowed in a trailer`, start);
          this.trailers.push(f);
        }
        return next;
      default:
        return next;
    }
  }

  private headLine(data: Buffer, start: number, end: number, next: number): void {
    this.headBytes += next - start;
    if (this.headBytes > this.options.maxHeadBytes) this.fail('HPE_HEADER_OVERFLOW', 'head too large', start);
    if (!this.sawRequestLine) {
      if (end === start) return; // empty lines before the request line are ignored
      if (end - start > this.options.maxRequestLineBytes) this.fail('HPE_URI_TOO_LONG', 'request line too long', start);
      this.requestLine(data, start, end);
      this.sawRequestLine = true;
      return;
    }
    if (end === start) {
      this.finishHead(start);
      return;
    }
    if (end - start > this.options.maxFieldBytes) this.fail('HPE_HEADER_OVERFLOW', 'header field too long', start);
    if (this.headers.length >= this.options.maxFields) this.fail('HPE_HEADER_OVERFLOW', 'too many header fields', start);
    if (data[start] === SP || data[start] === HT) this.fail('HPE_INVALID_HEADER_TOKEN', 'obsolete line folding', start);
    const f = this.field(data, start, end);
    this.headers.push(f);
    this.framingField(f[0].toLowerCase(), f[1], start);
  }

  /** Checks fields that decide the message's framing and routing as soon as they arrive. */
  private framingField(name: string, value: string, at: number): void {
    if (SINGLETONS.has(name)) {
      if (this.seen.has(name)) {
        const code = name === 'content-length' ? 'HPE_UNEXPECTED_CONTENT_LENGTH' : name === 'host' ? 'HPE_DUPLICATE_HOST' : 'HPE_DUPLICATE_FIELD';
        this.fail(code, `more than one ${name}`, at);
      }
      this.seen.add(name);
    }
    if (name === 'content-length') {
      if (this.transferEncoding) this.fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length with Transfer-Encoding', at);
      if (!/^\d+$/.test(value)) this.fail('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length', at);
      const n = Number(value);
      if (!Number.isSafeInteger(n)) this.fail('HPE_INVALID_CONTENT_LENGTH', 'Content-Length too large', at);
      this.contentLength = n;
    } else if (name === 'transfer-encoding') {
      if (this.contentLength !== null) this.fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length with Transfer-Encoding', at);
      if (this.versionMinor === 0) this.fail('HPE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 request', at);
      this.transferEncoding = true;
    }
  }

  private requestLine(data: Buffer, start: number, end: number): void {
    const sp1 = data.indexOf(SP, start);
    if (sp1 === -1 || sp1 >= end || sp1 === start) this.fail('HPE_INVALID_METHOD', 'malformed request line', start);
    for (let i = start; i < sp1; i++) if (!METHOD[data[i]]) this.fail('HPE_INVALID_METHOD', 'invalid character in method', i);
    const sp2 = data.indexOf(SP, sp1 + 1);
    if (sp2 === -1 || sp2 >= end || sp2 === sp1 + 1) this.fail('HPE_INVALID_URL', 'malformed request target', sp1 + 1);
    for (let i = sp1 + 1; i < sp2; i++) if (!TARGET[data[i]]) this.fail('HPE_INVALID_URL', 'invalid character in request target', i);
    // HTTP-version = "HTTP/" DIGIT "." DIGIT, and nothing after it. Checked in the order the bytes
    // arrive, so a partial line (checkLineStart) fails with the same code.
    const v = sp2 + 1;
    const prefixOk = end - v >= 6 && data[v] === 0x48 && data[v + 1] === 0x54 && data[v + 2] === 0x54 && data[v + 3] === 0x50 && data[v + 4] === 0x2f;
    if (!prefixOk || !isDigit(data[v + 5])) this.fail('HPE_INVALID_VERSION', 'invalid HTTP version', v);
    if (data[v + 5] !== 0x31) this.fail('HPE_UNSUPPORTED_VERSION', `HTTP/${data.toString('latin1', v + 5, end)} is not supported`, v);
    if (end - v !== 8 || data[v + 6] !== 0x2e || !isDigit(data[v + 7])) this.fail('HPE_INVALID_VERSION', 'invalid HTTP version', v);
    this.versionMajor = 1;
    this.versionMinor = data[v + 7] - 0x30;
    this.method = data.toString('latin1', start, sp1);
    this.target = data.toString('latin1', sp1 + 1, sp2);
    if (!targetFormAllowed(this.method, this.target)) this.fail('HPE_INVALID_URL', `request-target form not allowed for ${this.method}`, sp1 + 1);
  }

  /** field-line = field-name ":" OWS field-value OWS (RFC 9112 §5) */
  private field(data: Buffer, start: number, end: number): [string, string] {
    let colon = start;
    while (colon < end && TOKEN[data[colon]]) colon++;
    if (colon === start || colon === end || data[colon] !== 0x3a) this.fail('HPE_INVALID_HEADER_TOKEN', 'invalid header field name', colon);
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && (data[vs] === SP || data[vs] === HT)) vs++;
    while (ve > vs && (data[ve - 1] === SP || data[ve - 1] === HT)) ve--;
    for (let i = vs; i < ve; i++) if (!FIELD_VALUE[data[i]]) this.fail('HPE_INVALID_HEADER_TOKEN', 'invalid character in header value', i);
    return [data.toString('latin1', start, colon), data.toString('latin1', vs, ve)];
  }

  private finishHead(at: number): void {
    const fields = new Map<string, string[]>();
    for (const [name, value] of this.headers) {
      const key = name.toLowerCase();
      const list = fields.get(key);
      if (list) list.push(value);
      else fields.set(key, [value]);
    }
    const http11 = this.versionMinor >= 1;
    const te = fields.get('transfer-encoding');
    let chunked = false;
    const contentLength = this.contentLength;
    if (te) {
      const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '');
      if (codings.length === 0) this.fail('HPE_INVALID_TRANSFER_ENCODING', 'empty Transfer-Encoding', at);
      for (let i = 0; i < codings.length; i++) {
        const c = codings[i];
        if (!isToken(c)) this.fail('HPE_INVALID_TRANSFER_ENCODING', 'invalid transfer coding', at);
        if (c === 'chunked' && i !== codings.length - 1) this.fail('HPE_INVALID_TRANSFER_ENCODING', 'chunked is not the last transfer coding', at);
        if (!KNOWN_CODINGS.has(c)) this.fail('HPE_UNSUPPORTED_TRANSFER_ENCODING', `unknown transfer coding '${c}'`, at);
      }
      if (codings[codings.length - 1] !== 'chunked') this.fail('HPE_INVALID_TRANSFER_ENCODING', 'the last transfer coding is not chunked', at);
      chunked = true;
    } else if (contentLength !== null && contentLength > this.options.maxBodyBytes) {
      this.fail('HPE_BODY_TOO_LARGE', 'body larger than allowed', at);
    }
    if (this.options.requireHost && http11 && !fields.has('host')) this.fail('HPE_MISSING_HOST', 'HTTP/1.1 request without Host', at);
    const connection = (fields.get('connection') ?? []).join(',').toLowerCase().split(',').map((t) => t.trim());
    // HTTP/1.0 + Transfer-Encoding: framing may be faulty, close after this message (RFC 9112 §6.1).
    const keepAlive = http11 ? !connection.includes('close') : connection.includes('keep-alive');
    const upgrade =
      this.method === 'CONNECT' || isHttp2Preface(this.method, this.target) || (fields.has('upgrade') && connection.includes('upgrade'));
    const expect = fields.get('expect');
    this.head = {
      method: this.method,
      target: this.target,
      versionMajor: this.versionMajor,
      versionMinor: this.versionMinor,
      headers: this.headers,
      fields,
      contentLength,
      chunked,
      keepAlive,
      upgrade,
      expectContinue: expect !== undefined && expect[0].toLowerCase() === '100-continue',
    };
    const takenOver = this.callbacks.onHead(this.head) === true;
    this.bodyBytes = 0;
    if (takenOver || this.method === 'CONNECT' || isHttp2Preface(this.method, this.target)) this.state = 'upgraded';
    else if (chunked) this.state = 'chunkSize';
    else if (contentLength) {
      this.remaining = contentLength;
      this.state = 'body';
    } else this.state = 'complete'; // no body: afterHead completes the message
  }

  private afterHead(data: Buffer, pos: number): number {
    if (this.state === 'upgraded') {
      // CONNECT is a complete message; the HTTP/2 preface "PRI * HTTP/1.1" is not an HTTP/1 message.
      if (this.method === 'CONNECT') this.callbacks.onMessageComplete([]);
      this.resetHead();
      this.state = 'upgraded';
      this.callbacks.onUpgrade?.(data.subarray(pos));
      return data.length;
    }
    if (this.state === 'complete') return this.messageComplete(data, pos);
    return pos;
  }

  /** chunk-size [ chunk-ext ] (RFC 9112 §7.1) */
  private chunkSizeLine(data: Buffer, start: number, end: number): void {
    let i = start;
    let size = 0;
    while (i < end && HEX[data[i]] >= 0) {
      if (i - start >= MAX_CHUNK_HEX_DIGITS) this.fail('HPE_INVALID_CHUNK_SIZE', 'chunk size too large', i);
      size = size * 16 + HEX[data[i]];
      i++;
    }
    if (i === start) this.fail('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size', start);
    if (i < end) this.chunkExtensions(data, i, end);
    this.bodyBytes += size;
    if (this.bodyBytes > this.options.maxBodyBytes) this.fail('HPE_BODY_TOO_LARGE', 'body larger than allowed', start);
    if (size === 0) {
      this.trailers = [];
      this.state = 'trailers';
    } else {
      this.remaining = size;
      this.state = 'chunkData';
    }
  }

  /** chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string */
  private chunkExtensions(data: Buffer, i: number, end: number): void {
    const bad = (at: number): never => this.fail('HPE_INVALID_CHUNK_SIZE', 'invalid chunk extension', at);
    const ws = (): void => {
      while (i < end && (data[i] === SP || data[i] === HT)) i++;
    };
    while (i < end) {
      ws();
      if (data[i] !== 0x3b) bad(i);
      i++;
      ws();
      const nameStart = i;
      while (i < end && TOKEN[data[i]]) i++;
      if (i === nameStart) bad(i);
      ws();
      if (i < end && data[i] === 0x3d) {
        i++;
        ws();
        if (data[i] === 0x22) {
          i++;
          while (i < end && data[i] !== 0x22) {
            if (data[i] === 0x5c) i++;
            else if (!FIELD_VALUE[data[i]]) bad(i);
            i++;
          }
          if (i >= end) bad(i);
          i++;
        } else {
          const valStart = i;
          while (i < end && TOKEN[data[i]]) i++;
          if (i === valStart) bad(i);
        }
      }
    }
  }

  private messageComplete(data: Buffer, pos: number): number {
    const head = this.head!;
    const trailers = this.trailers;
    this.resetHead();
    this.state = 'head';
    this.callbacks.onMessageComplete(trailers);
    if (head.upgrade) {
      this.state = 'upgraded';
      this.callbacks.onUpgrade?.(data.subarray(pos));
      return data.length;
    }
    if (!head.keepAlive) this.state = 'closed';
    return pos;
  }

  private resetHead(): void {
    this.sawRequestLine = false;
    this.headBytes = 0;
    this.headers = [];
    this.trailers = [];
    this.head = null;
    this.seen = new Set();
    this.contentLength = null;
    this.transferEncoding = false;
  }
}

/**
 * RFC 9112 §3.2: origin-form ("/path?q") for every method; absolute-form ("scheme://authority/...");
 * authority-form ("host:port") only for CONNECT; asterisk-form only where '*' means the server.
 */
function targetFormAllowed(method: string, target: string): boolean {
  if (method === 'CONNECT') return /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+):\d+$/.test(target);
  if (target === '*') return ASTERISK_METHODS.has(method);
  if (target.charCodeAt(0) === 0x2f) return true;
  // absolute-form: scheme "://" authority [path-abempty] [ "?" query ]; authority = [userinfo "@"] host [":" port]
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(?::\d*)?(?:[/?#][^\s]*)?$/.test(target);
}

/** "PRI * HTTP/1.1", the start of the HTTP/2 connection preface (RFC 9113 §3.4). */
function isHttp2Preface(method: string, target: string): boolean {
  return method === 'PRI' && target === '*';
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isToken(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!TOKEN[s.charCodeAt(i)]) return false;
  return s.length > 0;
}
