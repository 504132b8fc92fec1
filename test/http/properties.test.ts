// Property tests: round trips, arbitrary bytes, chunking independence.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChunks, type CorpusMessage } from './corpus-feed';
import { request, serialize, split } from './request-arbitrary';

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
