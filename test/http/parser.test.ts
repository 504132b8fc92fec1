// Parser behaviour beyond the corpus: limits and their codes, keep-alive rules, Expect, upgrades,
// pipelining, LF-only requests, and that memory stays bounded while a head is incomplete.
import { describe, expect, it } from 'vitest';
import { HttpParseError, statusForParseError } from '../../src/http/errors';
import { RequestParser, headerValue, type ParserOptions, type RequestHead } from '../../src/http/parser';

interface Parsed {
  heads: RequestHead[];
  bodies: string[];
  completes: number;
  upgrade?: Buffer;
}

function parse(input: string | Buffer, options: Partial<ParserOptions> = {}, eof = false): Parsed {
  const out: Parsed = { heads: [], bodies: [], completes: 0 };
  let body: Buffer[] = [];
  const p = new RequestParser(
    {
      onHead: (h) => out.heads.push(h),
      onBody: (b) => body.push(Buffer.from(b)),
      onMessageComplete: () => {
        out.completes++;
        out.bodies.push(Buffer.concat(body).toString('latin1'));
        body = [];
      },
      onUpgrade: (rest) => {
        out.upgrade = Buffer.concat([out.upgrade ?? Buffer.alloc(0), rest]);
      },
    },
    options,
  );
  p.push(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  if (eof) p.finish();
  return out;
}

function code(input: string, options: Partial<ParserOptions> = {}, eof = false): string {
  try {
    parse(input, options, eof);
  } catch (err) {
    if (err instanceof HttpParseError) return err.code;
    throw err;
  }
  return 'ok';
}

describe('limits', () => {
  it('request line over 8 KiB -> 414, even before its end arrives', () => {
    const long = `GET /${'a'.repeat(9000)}`;
    expect(code(`${long} HTTP/1.1\r\nHost: x\r\n\r\n`)).toBe('HPE_URI_TOO_LONG');
    expect(code(long)).toBe('HPE_URI_TOO_LONG');
    expect(statusForParseError('HPE_URI_TOO_LONG')).toBe(414);
  });

  it('a field over 8 KiB, over 100 fields, or a head over 64 KiB -> 431', () => {
    expect(code(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'v'.repeat(9000)}\r\n\r\n`)).toBe('HPE_HEADER_OVERFLOW');
    expect(code(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'v'.repeat(9000)}`)).toBe('HPE_HEADER_OVERFLOW');
    const many = Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join('');
    expect(code(`GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n`)).toBe('HPE_HEADER_OVERFLOW');
    const big = Array.from({ length: 90 }, (_, i) => `X-${i}: ${'v'.repeat(800)}\r\n`).join('');
    expect(code(`GET / HTTP/1.1\r\nHost: x\r\n${big}\r\n`)).toBe('HPE_HEADER_OVERFLOW');
  });

  it('a body over the configured maximum -> 413, by Content-Length or by chunks', () => {
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n', { maxBodyBytes: 10 })).toBe('HPE_BODY_TOO_LARGE');
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\naaaaaa\r\n6\r\n', { maxBodyBytes: 10 })).toBe('HPE_BODY_TOO_LARGE');
    expect(statusForParseError('HPE_BODY_TOO_LARGE')).toBe(413);
  });

  it('HTTP/2.0 or 3.0 in the request line -> 505; garbage -> 400', () => {
    expect(code('GET / HTTP/2.0\r\n\r\n')).toBe('HPE_UNSUPPORTED_VERSION');
    expect(code('GET / HTTP/1.1x\r\n\r\n')).toBe('HPE_INVALID_VERSION');
  });

  it('missing or duplicate Host on HTTP/1.1 -> 400; HTTP/1.0 may omit it', () => {
    expect(code('GET / HTTP/1.1\r\n\r\n')).toBe('HPE_MISSING_HOST');
    expect(code('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')).toBe('HPE_DUPLICATE_HOST');
    expect(code('GET / HTTP/1.0\r\n\r\n')).toBe('ok');
    expect(statusForParseError('HPE_MISSING_HOST')).toBe(400);
  });

  it('an unknown transfer coding -> 501', () => {
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, chunked\r\n\r\n')).toBe('HPE_UNSUPPORTED_TRANSFER_ENCODING');
    expect(statusForParseError('HPE_UNSUPPORTED_TRANSFER_ENCODING')).toBe(501);
  });

  it('an incomplete head holds at most one line of buffered bytes', () => {
    const p = new RequestParser({ onHead: () => {}, onMessageComplete: () => {} });
    p.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n'));
    for (let i = 0; i < 50; i++) p.push(Buffer.from(`X-${i}: ${'v'.repeat(100)}\r\n`));
    expect((p as unknown as { pending: Buffer | null }).pending).toBeNull();
  });
});

describe('messages', () => {
  it('keeps original header case and order, with a lower-case lookup', () => {
    const { heads } = parse('GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Thing:  v1 \r\nx-thing: v2\r\n\r\n');
    expect(heads[0].headers).toEqual([['Host', 'x'], ['X-Thing', 'v1'], ['x-thing', 'v2']]);
    expect(heads[0].fields.get('x-thing')).toEqual(['v1', 'v2']);
    expect(headerValue(heads[0], 'host')).toBe('x');
    expect(heads[0].target).toBe('/a?b=1');
  });

  it('accepts the tutorial client\'s LF-only request but not a mix of LF and CRLF', () => {
    expect(parse('GET /hello HTTP/1.1\nHost: localhost:8888\n\n').completes).toBe(1);
    expect(code('GET /hello HTTP/1.1\r\nHost: localhost:8888\n\r\n')).toBe('HPE_CR_EXPECTED');
  });

  it('keep-alive: HTTP/1.1 unless Connection: close; HTTP/1.0 only with keep-alive', () => {
    expect(parse('GET / HTTP/1.1\r\nHost: x\r\n\r\n').heads[0].keepAlive).toBe(true);
    expect(parse('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').heads[0].keepAlive).toBe(false);
    expect(parse('GET / HTTP/1.0\r\n\r\n').heads[0].keepAlive).toBe(false);
    expect(parse('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').heads[0].keepAlive).toBe(true);
  });

  it('pipelined requests with Content-Length and chunked bodies (extensions and trailers)', () => {
    const r = parse(
      'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
        'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1;q="a b"\r\ndef\r\n0\r\nX-T: 1\r\n\r\n' +
        'GET /c HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(r.heads.map((h) => h.target)).toEqual(['/a', '/b', '/c']);
    expect(r.bodies).toEqual(['abc', 'def', '']);
  });

  it('Expect: 100-continue is reported before the body arrives', () => {
    const r = parse('POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    expect(r.heads[0].expectContinue).toBe(true);
    expect(r.completes).toBe(0);
  });

  it('Upgrade and CONNECT hand back the bytes that follow', () => {
    const up = parse('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello');
    expect(up.heads[0].upgrade).toBe(true);
    expect(up.upgrade?.toString('latin1')).toBe('\x81\x05hello');
    const connect = parse('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01');
    expect(connect.completes).toBe(1);
    expect(connect.upgrade?.toString('latin1')).toBe('\x16\x03\x01');
  });

  it('request-target forms: origin, absolute, authority (CONNECT only), * (OPTIONS)', () => {
    expect(code('GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n')).toBe('ok');
    expect(code('OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('ok');
    expect(code('GET * HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('HPE_INVALID_URL');
    expect(code('GET example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('HPE_INVALID_URL');
  });

  it('smuggling vectors are rejected', () => {
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe('HPE_UNEXPECTED_CONTENT_LENGTH');
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n')).toBe('HPE_UNEXPECTED_CONTENT_LENGTH');
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n')).toBe('HPE_INVALID_CONTENT_LENGTH');
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n')).toBe('HPE_INVALID_TRANSFER_ENCODING');
    expect(code('GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN');
    expect(code('GET / HTTP/1.1\r\nHost : x\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN');
    expect(code('GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n')).toBe('HPE_LF_EXPECTED');
    expect(code('GET / HTTP/1.1\r\nHost: x\0\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN');
  });

  it('EOF in the middle of a message is an error; between messages it is not', () => {
    expect(code('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab', {}, true)).toBe('HPE_INVALID_EOF_STATE');
    expect(code('GET / HTTP/1.1\r\nHost: x\r\n\r\n', {}, true)).toBe('ok');
  });

  it('after an error the parser stays failed', () => {
    const p = new RequestParser({ onHead: () => {}, onMessageComplete: () => {} });
    expect(() => p.push(Buffer.from('BAD REQUEST LINE HERE\r\n'))).toThrow(HttpParseError);
    expect(() => p.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toThrow(HttpParseError);
  });
});

function byByte(input: string): string {
  const p = new RequestParser({ onHead: () => {}, onMessageComplete: () => {} });
  try {
    for (const b of Buffer.from(input, 'latin1')) p.push(Buffer.from([b]));
  } catch (err) {
    return (err as HttpParseError).code;
  }
  return 'ok';
}

describe('regressions found by the property tests', () => {
  it('two spaces after the method fail the same way whole and byte by byte', () => {
    const input = 'A  /aaa HTTP/1.1\r\nHost: x\r\n\r\n';
    expect(code(input)).toBe('HPE_INVALID_URL');
    expect(byByte(input)).toBe('HPE_INVALID_URL');
  });

  it('a bare CR in the request line fails the same way whole and byte by byte', () => {
    const input = 'A\r/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n';
    expect(code(input)).toBe('HPE_LF_EXPECTED');
    expect(byByte(input)).toBe('HPE_LF_EXPECTED');
  });

  it('an error before a bare CR wins, whole and byte by byte', () => {
    const input = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n\0\0\r\0';
    expect(code(input)).toBe('HPE_INVALID_METHOD');
    expect(byByte(input)).toBe('HPE_INVALID_METHOD');
    const fold = 'GET / HTTP/1.1\r\nHost: x\r\n \rb\r\n\r\n';
    expect(code(fold)).toBe('HPE_INVALID_HEADER_TOKEN');
    expect(byByte(fold)).toBe('HPE_INVALID_HEADER_TOKEN');
    const mixedFold = 'GET / HTTP/1.1\r\nHost: x\r\n\t\n\r\n';
    expect(code(mixedFold)).toBe('HPE_INVALID_HEADER_TOKEN');
    expect(byByte(mixedFold)).toBe('HPE_INVALID_HEADER_TOKEN');
  });
});

describe('what the parser keeps between pushes is its own', () => {
  it('a caller that reuses its read buffer (as a recv() loop does) cannot corrupt an unfinished line', () => {
    const heads: RequestHead[] = [];
    const p = new RequestParser({ onHead: (h) => heads.push(h), onMessageComplete: () => {} });
    const text = 'GET /split HTTP/1.1\r\nHost: example\r\n\r\n';
    const buf = Buffer.alloc(64);
    for (const part of [text.slice(0, 7), text.slice(7, 25), text.slice(25)]) {
      buf.fill('Z'); // the previous read's bytes are overwritten, as the next recv() would
      const n = buf.write(part, 'latin1');
      p.push(buf.subarray(0, n));
    }
    expect(heads.map((h) => [h.method, h.target, headerValue(h, 'host')])).toEqual([['GET', '/split', 'example']]);
  });
});
