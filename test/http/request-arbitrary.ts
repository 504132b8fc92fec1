// Generated HTTP/1.1 requests for property tests, in-process (test/http/properties.test.ts) and at
// the socket (test/server/socket-properties.test.ts): a random valid request, its bytes, and a
// random way to cut those bytes into pieces.
import fc from 'fast-check';

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const token = fc.array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const method = fc.array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ-'.split('')), { minLength: 1, maxLength: 8 }).map((a) => a.join('')).filter((m) => m !== 'CONNECT' && m !== 'PRI');
const pathChars = fc.constantFrom(...'abcxyz0189-._~/%?=&:@!$()*+,;'.split(''));
const target = fc.array(pathChars, { maxLength: 40 }).map((a) => `/${a.join('')}`);
const valueChar = fc.constantFrom(...'abc XYZ 019 !"#$%&()*+,-./:;<=>?@[]^_`{|}~\t'.split(''));
const value = fc.array(valueChar, { maxLength: 30 }).map((a) => a.join('').trim());
const reserved = new Set(['content-length', 'transfer-encoding', 'host', 'content-type', 'connection', 'upgrade', 'expect']);
const header = fc.tuple(token.filter((t) => !reserved.has(t.toLowerCase())), value);

export const request = fc.record({
  method,
  target,
  headers: fc.array(header, { maxLength: 8 }),
  body: fc.uint8Array({ maxLength: 3000 }),
  chunked: fc.boolean(),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }),
  lf: fc.boolean(),
});

export type Req = typeof request extends fc.Arbitrary<infer T> ? T : never;

export function serialize(r: Req): Buffer {
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

export function split(buf: Buffer, cuts: number[]): Buffer[] {
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
