// What became of one request, for an access log: the status and body bytes of the response as
// they were handed to the socket (by the app's exchange, whatever its interface, or by the
// connection itself for the errors it answers: 400, 408, 413 ...), the peer's address when the head
// arrived, and how long it took. Measured only for an observer that asks (RequestObserver.outcomes):
// for one that does not, nothing is counted and nothing is allocated per request.

import type { RequestHead } from '../http/parser';

/** What an exchange tells about the response it wrote (see Exchange in connection.ts). */
export interface ResponseFacts {
  /** The status of the response head handed to the socket; 0 while none has been. */
  readonly responseStatus: number;
  /** Body bytes handed to the socket: not the head, not chunked framing, none for HEAD/204/304. */
  readonly responseBodyBytes: number;
  /** A response header as the app set it, by lower-case name. */
  responseHeader(name: string): string | undefined;
}

export class RequestOutcome {
  /** The peer's address when the head arrived (a trusted proxy's client: forwarded.ts); undefined on a unix socket. */
  remoteAddress: string | undefined = undefined;
  /** The status of the response sent; 0 when none was (the client left, or the server stopped, first). */
  status = 0;
  /** Response body bytes handed to the socket (see ResponseFacts). */
  bodyBytes = 0;
  /** From the head's arrival (without a head: from the request's first byte, or the connection's start) to the end. */
  durationMs = 0;
  private response: ResponseFacts | null = null;

  constructor(
    /** null: the connection answered an error before any head of this request arrived (a parse error, 408). */
    readonly head: RequestHead | null,
    /** performance.now() when it began. */
    readonly startedAt: number,
  ) {}

  /**
   * The request is over: `status` (0: nothing was sent) and `bodyBytes` went out, written by the
   * app's exchange (`response`) or by the connection itself (null).
   */
  finish(status: number, bodyBytes: number, response: ResponseFacts | null): this {
    this.status = status;
    this.bodyBytes = status === 0 ? 0 : bodyBytes;
    this.response = response;
    this.durationMs = performance.now() - this.startedAt;
    return this;
  }

  /** A header of the response as the app set it (lower-case name); undefined for none, and for the connection's own answers. */
  responseHeader(name: string): string | undefined {
    return this.response?.responseHeader(name);
  }
}

/** The body length of a complete response in one buffer (the canned error answers). */
export function bodyLength(response: Buffer): number {
  const end = response.indexOf('\r\n\r\n');
  return end < 0 ? 0 : response.length - end - 4;
}
