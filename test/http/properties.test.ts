// Property tests: round trips, arbitrary bytes, chunking independence.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChunks, type CorpusMessage } from './corpus-feed';

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const token = fc.array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const method = fc.array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ-'.split('')), { minLength: 1, maxLength: 8 }).map((a) => a.join('')).filter((m) => m !== 'CONNECT' && m !== 'PRI');
const pathChars = fc.constantFrom(...'abcxyz0189-._~/%?=&:@!$()*+,;'.split(''));
const target = fc.array(pathChars, { maxLength: 40 }).map((a) => `/${a.join('')}`);
const valueChar = fc.constantFrom(...'abc XYZ 019 !"#$%&()*+,-./:;<=>?@[]^_`{|}~\t'.split(''));
const value = fc.array(valueChar, { maxLength: 30 }).map((a) => a.join('').trim());
const reserved = new Set(['content-length', 'transfer-encoding', 'host', 'content-type', 'connection', 'upgrade', 'expect']);
const header = fc.tuple(token.filter((t) => !reserved.has(t.toLowerCase())), value);

const request = fc.record({
  method,
  target,
  headers: fc.array(header, { maxLength: 8 }),
  body: fc.uint8Array({ maxLength: 3000 }),
  chunked: fc.boolean(),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }),
  lf: fc.boolean(),
});

type Req = typeof request extends fc.Arbitrary<infer T> ? T : never;

function serialize(r: Req): Buffer {
  const eol = r.lf ? '\n' : '\r\n';
  let head = `${r.method} ${r.target} HTTP/1.1${eol}Host: example.com${eol}`;
  for (const [n, v] of r.headers) head += `${n}: ${v}${eol}`;
  const body = Buffer.from(r.body);
  const parts: Buffer[] = [];
  if (r.chunked) {
    head += `Transfer-Encoding: chunked${eol}${eol}`;
    parts.push(Buffer.from(head, 'latin1'));
    let off = 0;
    for (let i = 0; off < body.length; i++) {
      const n = Math.min(r.chunkSizes[i % r.chunkSizes.length], body.length - off);
      parts.push(Buffer.from(`${n.toString(16)}${eol}`), body.subarray(off, off + n), Buffer.from(eol));
      off += n;
    }
    parts.push(Buffer.from(`0${eol}${eol}`));
  } else {
    head += `Content-Length: ${body.length}${eol}${eol}`;
    parts.push(Buffer.from(head, 'latin1'), body);
  }
  return Buffer.concat(parts);
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe('parser properties', () => {
  it('serialising a valid request and parsing it (in any chunking) gives it back', () => {
    fc.assert(
      fc.property(request, fc.array(fc.nat(), { maxLength: 12 }), (r, cuts) => {
        const raw = serialize(r);
        const out = parseChunks(split(raw, cuts), true, {});
        expect(out.verdict, out.error).toBe('accept');
        expect(out.messages).toHaveLength(1);
        const m = out.messages[0] as CorpusMessage;
        expect(m.method).toBe(r.method);
        expect(m.target).toBe(r.target);
        expect(m.headers.slice(1, 1 + r.headers.length)).toEqual(r.headers);
        expect(Buffer.from(m.body_b64, 'base64')).toEqual(Buffer.from(r.body));
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes never make it throw anything but its own parse error', () => {
    const prefix = fc.constantFrom('', 'GET / HTTP/1.1\r\n', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', 'PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n');
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (p, bytes, cuts, eof) => {
        const raw = Buffer.concat([Buffer.from(p, 'latin1'), Buffer.from(bytes)]);
        const out = parseChunks(split(raw, cuts), eof, {}); // rethrows anything that is not an HttpParseError
        expect(['accept', 'reject']).toContain(out.verdict);
      }),
      { numRuns: 1000 },
    );
  });

  it('the outcome does not depend on how the bytes are chunked', () => {
    const mutated = fc.tuple(request, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([r, at, byte]) => {
      const raw = serialize(r);
      if (raw.length > 0) raw[at % raw.length] = byte;
      return raw;
    });
    fc.assert(
      fc.property(mutated, fc.array(fc.nat(), { maxLength: 10 }), (raw, cuts) => {
        const whole = parseChunks([raw], true, {});
        const bytes = parseChunks([...raw].map((b) => Buffer.from([b])), true, {});
        const random = parseChunks(split(raw, cuts), true, {});
        expect(bytes).toEqual(whole);
        expect(random).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });
});
