// The shared HTTP corpus (303 cases from gunicorn's and llhttp's suites, test/fixtures/http-corpus),
// each fed five ways (whole, by line, by byte, two random chunkings) as gunicorn's treq.py does.
// Every feeding must give the same result, and the result must be the suite's strict verdict
// (and messages), except for the deliberate differences listed below with their reasons.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ParserOptions } from '../../src/http/parser';
import { feedings, parseChunks, type CorpusCase, type CorpusMessage } from './corpus-feed';

const CASES: CorpusCase[] = fs
  .readFileSync(path.join(__dirname, '..', 'fixtures', 'http-corpus', 'requests.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));

/** Cases where forkserve deliberately differs from the source suite's verdict or messages. */
const DIFFERENCES: Record<string, string> = {
  'gunicorn/valid/009': 'Transfer-Encoding: identity with Content-Length: both framings at once is rejected (RFC 9112 §6.1); identity is no longer a transfer coding',
  'gunicorn/valid/019': 'bytes after an HTTP/1.0 message without keep-alive are an error (as llhttp does), not silently ignored',
  'gunicorn/valid/021': 'bytes after a "Connection: close" message are an error (as llhttp does), not silently ignored',
  'gunicorn/valid/027': 'raw non-ASCII bytes in the request-target are rejected (RFC 3986: percent-encode them), as llhttp does (uri.md:148)',
  'gunicorn/valid/040': 'header names with "_" are kept as sent, not dropped: framing only ever uses the exact standard names',
  'gunicorn/valid/099': 'EOF before the Content-Length is reached is an error (HPE_INVALID_EOF_STATE), not an accepted request',
  'llhttp/content-length.md:444': "the llhttp test parser skips the body (meta skipBody); ours reads it, so the second request is body",
  'llhttp/invalid.md:66': 'any upper-case token is a method: unknown methods reach the app, which answers 405/501',
  'llhttp/invalid.md:356': 'any upper-case token is a method: unknown methods reach the app, which answers 405/501',
  'llhttp/method.md:372': 'ICE/1.0 is not HTTP: only HTTP/1.x versions are accepted',
  'llhttp/method.md:400': 'RTSP/1.0 is not HTTP: only HTTP/1.x versions are accepted',
  'llhttp/method.md:430': 'RTSP/1.0 is not HTTP: only HTTP/1.x versions are accepted',
  'llhttp/sample.md:314': 'HTTP/0.9 simple requests (no version) are refused',
};

/** gunicorn settings we do not have; cases that need them are not run (counted below). */
const UNSUPPORTED_CFG: Record<string, string> = {
  proxy_protocol: 'the PROXY protocol is not implemented',
  header_map: 'header names are never rewritten or dropped',
  permit_obsolete_folding: 'obs-fold is always rejected',
  permit_unconventional_http_method: 'the method rule is fixed (upper-case token)',
  casefold_http_method: 'methods are case-sensitive',
  strip_header_spaces: 'whitespace before the colon is always rejected',
  forwarded_allow_ips: 'proxy headers are the app\'s business',
};

// gunicorn's defaults (and settings), counted with the line ending; ours count without it.
function optionsFor(c: CorpusCase): Partial<ParserOptions> | null {
  // The suites do not test Host semantics: most of their HTTP/1.1 requests have no Host.
  const base: Partial<ParserOptions> = { requireHost: false };
  if (c.source === 'llhttp') return base;
  const cfg = c.cfg ?? {};
  if (Object.keys(cfg).some((k) => k in UNSUPPORTED_CFG)) return null;
  const fieldSize = Number(cfg.limit_request_field_size ?? 8190) || 8190; // 0 means the default
  return {
    ...base,
    maxRequestLineBytes: Number(cfg.limit_request_line ?? 4094) - 2,
    maxFieldBytes: fieldSize - 2,
    maxFields: Number(cfg.limit_request_fields ?? 100),
  };
}

function expected(c: CorpusCase): CorpusMessage[] {
  return (c.expect ?? [])
    .filter((m) => m.complete !== false)
    .map(({ method, target, version, headers, body_b64, trailers }) => ({
      method, target, version, headers, body_b64, ...(trailers ? { trailers } : {}),
    }));
}

describe('http-corpus', () => {
  const runnable = CASES.filter((c) => optionsFor(c) !== null);

  it('has every case of the corpus, and the unsupported-setting cases are few', () => {
    expect(CASES).toHaveLength(303);
    expect(CASES.length - runnable.length).toBeLessThanOrEqual(18);
    expect(Object.keys(DIFFERENCES).length).toBeLessThanOrEqual(13);
  });

  it.each(runnable.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const raw = Buffer.from(c.raw_b64, 'base64');
    const results = feedings(raw).map(([how, chunks]) => ({ how, ...parseChunks(chunks, Boolean(c.eof), optionsFor(c)!) }));
    const first = results[0];
    for (const r of results.slice(1)) {
      expect({ how: r.how, verdict: r.verdict, error: r.error, messages: r.messages }).toEqual({
        how: r.how, verdict: first.verdict, error: first.error, messages: first.messages,
      });
    }
    const agrees = first.verdict === c.verdict && (c.verdict === 'reject' || JSON.stringify(first.messages) === JSON.stringify(expected(c)));
    if (DIFFERENCES[c.id]) {
      expect(agrees, `listed as a difference but agrees now: ${DIFFERENCES[c.id]}`).toBe(false);
    } else {
      expect(first.verdict, first.error).toBe(c.verdict);
      if (c.verdict === 'accept') expect(first.messages).toEqual(expected(c));
    }
  });
});
