// Feeding the shared HTTP corpus to our parser the ways gunicorn's treq.py does.
import { HttpParseError } from '../../src/http/errors';
import { RequestParser, type ParserOptions, type HeaderList } from '../../src/http/parser';

export interface CorpusMessage {
  method: string;
  target: string;
  version: string;
  headers: HeaderList;
  body_b64: string;
  trailers?: HeaderList;
  complete?: boolean;
}

export interface CorpusCase {
  id: string;
  source: 'gunicorn' | 'llhttp';
  raw_b64: string;
  verdict: 'accept' | 'reject';
  expect?: CorpusMessage[];
  eof?: boolean;
  cfg?: Record<string, unknown>;
  incomplete?: boolean;
  upgrade?: boolean;
  reason?: string;
}

export interface Outcome {
  verdict: 'accept' | 'reject';
  messages: CorpusMessage[];
  error?: string;
}

/** Runs the parser over `chunks`; collects complete messages; stops at an upgrade. */
export function parseChunks(chunks: Buffer[], eof: boolean, options: Partial<ParserOptions>): Outcome {
  const messages: CorpusMessage[] = [];
  let current: { msg: CorpusMessage; body: Buffer[] } | null = null;
  let upgraded = false;
  const parser = new RequestParser(
    {
      onHead: (h) => {
        current = {
          msg: { method: h.method, target: h.target, version: `${h.versionMajor}.${h.versionMinor}`, headers: h.headers, body_b64: '' },
          body: [],
        };
      },
      onBody: (b) => current!.body.push(Buffer.from(b)),
      onMessageComplete: (trailers) => {
        const c = current!;
        c.msg.body_b64 = Buffer.concat(c.body).toString('base64');
        if (trailers.length > 0) c.msg.trailers = trailers;
        messages.push(c.msg);
        current = null;
      },
      onUpgrade: () => {
        upgraded = true;
      },
    },
    options,
  );
  try {
    for (const chunk of chunks) {
      if (upgraded) break;
      parser.push(chunk);
    }
    if (eof && !upgraded) parser.finish();
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err; // anything else is a crash: let the test fail
    return { verdict: 'reject', messages, error: err.code };
  }
  return { verdict: 'accept', messages };
}

function splitLines(raw: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0a) {
      out.push(raw.subarray(start, i + 1));
      start = i + 1;
    }
  }
  if (start < raw.length) out.push(raw.subarray(start));
  return out;
}

function randomChunks(raw: Buffer, seed: number): Buffer[] {
  let s = seed >>> 0 || 1;
  const rand = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const out: Buffer[] = [];
  const max = Math.max(1, Math.floor(raw.length / 10));
  for (let i = 0; i < raw.length; ) {
    const n = 1 + Math.floor(rand() * max);
    out.push(raw.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** The five feedings: whole, line by line, byte by byte, and two random chunkings. */
export function feedings(raw: Buffer): [string, Buffer[]][] {
  return [
    ['whole', [raw]],
    ['lines', splitLines(raw)],
    ['bytes', [...raw].map((b) => Buffer.from([b]))],
    ['random-1', randomChunks(raw, 1)],
    ['random-2', randomChunks(raw, 0x9e3779b9)],
  ];
}
