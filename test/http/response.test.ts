import { describe, expect, it } from 'vitest';
import { CONTINUE_100, encodeBody, encodeEnd, errorResponse, httpDate, serializeHead } from '../../src/http/response';
import { statusForParseError } from '../../src/http/errors';

const GET11 = { method: 'GET', versionMinor: 1, keepAlive: true };
const head = (b: Buffer): string => b.toString('latin1');

describe('response head', () => {
  it('status line, app headers, Date, Content-Length; keep-alive by default on 1.1', () => {
    const h = serializeHead(GET11, { status: 200, headers: [['Content-Type', 'text/plain']], contentLength: 5, server: 'forkserve/0.1.0' });
    expect(head(h.bytes)).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nDate: [^\r]+\r\nServer: forkserve\/0\.1\.0\r\nContent-Length: 5\r\n\r\n$/);
    expect(h).toMatchObject({ framing: 'length', keepAlive: true });
  });

  it("the app's own Server header wins (one Server line); without a server name there is none", () => {
    const own = head(serializeHead(GET11, { status: 200, headers: [['server', 'mine']], contentLength: 0, server: 'forkserve/0.1.0' }).bytes);
    expect(own.match(/^server:/gim)).toEqual(['server:']);
    expect(own).toContain('server: mine\r\n');
    expect(head(serializeHead(GET11, { status: 200, contentLength: 0, server: '' }).bytes)).not.toMatch(/^server:/im);
  });

  it('no length on 1.1 -> chunked; on 1.0 -> close-delimited with Connection: close', () => {
    expect(serializeHead(GET11, { status: 200 })).toMatchObject({ framing: 'chunked', keepAlive: true });
    expect(head(serializeHead(GET11, { status: 200 }).bytes)).toContain('Transfer-Encoding: chunked\r\n');
    const h10 = serializeHead({ method: 'GET', versionMinor: 0, keepAlive: true }, { status: 200 });
    expect(h10).toMatchObject({ framing: 'close', keepAlive: false });
    expect(head(h10.bytes)).toContain('Connection: close\r\n');
    const ka10 = serializeHead({ method: 'GET', versionMinor: 0, keepAlive: true }, { status: 200, contentLength: 0 });
    expect(head(ka10.bytes)).toContain('Connection: keep-alive\r\n');
  });

  it('HEAD keeps Content-Length but sends no body and no chunked header', () => {
    const h = serializeHead({ ...GET11, method: 'HEAD' }, { status: 200, contentLength: 42 });
    expect(head(h.bytes)).toContain('Content-Length: 42\r\n');
    expect(h.framing).toBe('none');
    expect(encodeBody(h.framing, Buffer.from('x'))).toEqual([]);
    const hc = serializeHead({ ...GET11, method: 'HEAD' }, { status: 200 });
    expect(head(hc.bytes)).not.toContain('Transfer-Encoding');
  });

  it('204 and 304 have no body and no framing headers, whatever the app set', () => {
    for (const status of [204, 304]) {
      const h = serializeHead(GET11, { status, contentLength: 10, headers: [['Content-Length', '10'], ['Transfer-Encoding', 'chunked']] });
      expect(h.framing).toBe('none');
      expect(head(h.bytes)).not.toMatch(/Content-Length|Transfer-Encoding/);
    }
    expect(head(CONTINUE_100)).toBe('HTTP/1.1 100 Continue\r\n\r\n');
  });

  it('Connection: close when the request or the app asks for it', () => {
    expect(head(serializeHead({ ...GET11, keepAlive: false }, { status: 200, contentLength: 0 }).bytes)).toContain('Connection: close\r\n');
    expect(serializeHead(GET11, { status: 200, contentLength: 0, close: true }).keepAlive).toBe(false);
  });

  it('refuses header injection', () => {
    expect(() => serializeHead(GET11, { status: 200, headers: [['X-A', 'a\r\nSet-Cookie: x=1']] })).toThrow(TypeError);
    expect(() => serializeHead(GET11, { status: 200, headers: [['Bad Name', 'v']] })).toThrow(TypeError);
    expect(() => serializeHead(GET11, { status: 99 })).toThrow(RangeError);
  });
});

describe('body framing', () => {
  it('chunked: hex size, CRLF, data, CRLF, and a last chunk (with trailers)', () => {
    const parts = encodeBody('chunked', Buffer.alloc(26, 'a'));
    expect(Buffer.concat(parts).toString('latin1')).toBe(`1a\r\n${'a'.repeat(26)}\r\n`);
    expect(Buffer.concat(encodeEnd('chunked')).toString('latin1')).toBe('0\r\n\r\n');
    expect(Buffer.concat(encodeEnd('chunked', [['X-Sum', '1']])).toString('latin1')).toBe('0\r\nX-Sum: 1\r\n\r\n');
    expect(encodeBody('chunked', Buffer.alloc(0))).toEqual([]); // an empty chunk would end the body
    expect(encodeEnd('length')).toEqual([]);
  });
});

describe('Date and canned errors', () => {
  it('Date is an IMF-fixdate, the same within a second', () => {
    const t = Date.UTC(2026, 10, 25, 16, 0, 0, 100);
    expect(httpDate(t)).toBe('Wed, 25 Nov 2026 16:00:00 GMT');
    expect(httpDate(t + 800)).toBe('Wed, 25 Nov 2026 16:00:00 GMT');
    expect(httpDate(t + 1000)).toBe('Wed, 25 Nov 2026 16:00:01 GMT');
    expect(httpDate()).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  });

  it('parse errors map to one status each and a complete close-delimited response', () => {
    expect(statusForParseError('HPE_URI_TOO_LONG')).toBe(414);
    expect(statusForParseError('HPE_HEADER_OVERFLOW')).toBe(431);
    expect(statusForParseError('HPE_BODY_TOO_LARGE')).toBe(413);
    expect(statusForParseError('HPE_UNSUPPORTED_VERSION')).toBe(505);
    expect(statusForParseError('HPE_INVALID_METHOD')).toBe(400);
    const r = errorResponse(431).toString('latin1');
    expect(r).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(r).toContain('Content-Length: 32\r\n');
    expect(r).toContain('Connection: close\r\n');
    expect(r.endsWith('\r\n\r\nRequest Header Fields Too Large\n')).toBe(true);
  });
});
