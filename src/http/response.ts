// The response side: status line, headers with Date (cached per second), framing by
// Content-Length or chunked (or close-delimited for HTTP/1.0), no body where none is allowed
// (HEAD, 1xx, 204, 304), Connection handling, 100 Continue, and canned error responses.

import { reasonPhrase } from './status';

export type OutgoingHeaders = [name: string, value: string][];

// RFC 9110 §5.6.2 token, and field values without CR, LF or NUL (no response splitting)
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE_RE = /[\r\n\0]/;

let dateSecond = -1;
let dateValue = '';

/** IMF-fixdate for now (RFC 9110 §5.6.7), computed at most once per second. */
export function httpDate(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

export const CONTINUE_100 = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** A status that never has a body: 1xx, 204, 304 (RFC 9110 §6.4.1). */
export function statusHasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

export interface RequestInfo {
  method: string;
  versionMinor: number;
  keepAlive: boolean;
}

export interface HeadOptions {
  status: number;
  reason?: string;
  headers?: OutgoingHeaders;
  /** The body's length when known; otherwise HTTP/1.1 uses chunked, HTTP/1.0 closes. */
  contentLength?: number | null;
  /** Close after this response even if the request allowed keep-alive. */
  close?: boolean;
  /** Value of the Server header, if any. */
  server?: string;
}

/** How the body of a response is framed on the wire. */
export type Framing = 'none' | 'length' | 'chunked' | 'close';

export interface SerializedHead {
  bytes: Buffer;
  framing: Framing;
  keepAlive: boolean;
}

function checkHeader(name: string, value: string): void {
  if (!TOKEN_RE.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
  if (BAD_VALUE_RE.test(value)) throw new TypeError(`invalid character in the value of header ${name}`);
}

/**
 * Serialises a response head for `req`. Framing headers the app set (Content-Length,
 * Transfer-Encoding, Connection) are replaced by the ones this function decides.
 */
export function serializeHead(req: RequestInfo, opts: HeadOptions): SerializedHead {
  const { status } = opts;
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid status code ${status}`);
  const noBody = statusHasNoBody(status);
  let framing: Framing;
  if (noBody) framing = 'none';
  else if (opts.contentLength != null) framing = 'length';
  else if (req.versionMinor >= 1) framing = 'chunked';
  else framing = 'close';
  const keepAlive = req.keepAlive && !opts.close && framing !== 'close' && status >= 200;
  const reason = opts.reason ?? reasonPhrase(status);
  if (BAD_VALUE_RE.test(reason)) throw new TypeError('invalid character in the reason phrase');
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  let hasDate = false;
  let hasServer = false;
  for (const [name, value] of opts.headers ?? []) {
    checkHeader(name, value);
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection' || lower === 'keep-alive') continue;
    if (lower === 'date') hasDate = true;
    else if (lower === 'server') hasServer = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasDate) head += `Date: ${httpDate()}\r\n`;
  if (opts.server && !hasServer) head += `Server: ${opts.server}\r\n`; // the app's own wins, as in node:http
  if (framing === 'length' || (req.method === 'HEAD' && opts.contentLength != null && !noBody)) head += `Content-Length: ${opts.contentLength}\r\n`;
  else if (framing === 'chunked' && req.method !== 'HEAD') head += 'Transfer-Encoding: chunked\r\n';
  if (status >= 200) {
    if (!keepAlive) head += 'Connection: close\r\n';
    else if (req.versionMinor === 0) head += 'Connection: keep-alive\r\n';
  }
  head += '\r\n';
  // A HEAD response carries the head only, whatever the framing says (RFC 9110 §9.3.2).
  return { bytes: Buffer.from(head, 'latin1'), framing: req.method === 'HEAD' ? 'none' : framing, keepAlive };
}

/** Frames body bytes for the wire according to `framing`. */
export function encodeBody(framing: Framing, chunk: Buffer): Buffer[] {
  if (framing === 'none' || chunk.length === 0) return [];
  if (framing !== 'chunked') return [chunk];
  return [Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'), chunk, CRLF];
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** The end of a body: the last chunk (with optional trailers) for chunked, nothing otherwise. */
export function encodeEnd(framing: Framing, trailers: OutgoingHeaders = []): Buffer[] {
  if (framing !== 'chunked') return [];
  if (trailers.length === 0) return [LAST_CHUNK];
  let t = '0\r\n';
  for (const [name, value] of trailers) {
    checkHeader(name, value);
    t += `${name}: ${value}\r\n`;
  }
  return [Buffer.from(`${t}\r\n`, 'latin1')];
}

/** A complete small response with a text body, Content-Length and "Connection: close". */
export function errorResponse(status: number, server?: string): Buffer {
  const body = `${reasonPhrase(status)}\n`;
  const { bytes } = serializeHead(
    { method: 'GET', versionMinor: 1, keepAlive: false },
    { status, headers: [['Content-Type', 'text/plain; charset=utf-8']], contentLength: Buffer.byteLength(body), server },
  );
  return Buffer.concat([bytes, Buffer.from(body, 'latin1')]);
}
