// The shared HTTP corpus (303 cases) at the socket: each case's bytes are written to a running
// server in random segments (TCP_NODELAY, a pause between writes, so the server's own read loop
// sees them split), then the client half-closes. What the server answers must be what our parser
// decides in-process for the same bytes: one response per complete message (200 from these apps,
// with a 100 Continue first where asked), then the mapped error status if the bytes are rejected;
// nothing more once a response closed the connection. The in-process corpus test checks the
// verdicts themselves; this one checks that the servers' read loops do not change them.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusForParseError, type ParseErrorCode } from '../../src/http/errors';
import { parseChunks, type CorpusCase, type CorpusMessage } from '../http/corpus-feed';
import { FIXTURES, killAll, sleep, startServer, type Server } from '../helpers/procs';

const CASES: CorpusCase[] = fs
  .readFileSync(path.join(FIXTURES, 'http-corpus', 'requests.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as CorpusCase)
  // Upgrades switch protocols (the bytes after them are not HTTP); the servers' limits are their own.
  .filter((c) => !c.upgrade && !c.cfg);

const ECHO = `${path.join(FIXTURES, 'apps', 'echo.js')}:app`;

interface Target {
  name: string;
  entry: string;
  args: string[];
  /** One request per connection (webserver2, as the tutorial). */
  oneRequest: boolean;
}

const TARGETS: Target[] = [
  { name: 'concurrent-final (built-in app)', entry: 'concurrent-final.js', args: [], oneRequest: false },
  { name: 'concurrent-final + app', entry: 'concurrent-final.js', args: [ECHO], oneRequest: false },
  { name: 'webserver2 + app', entry: 'webserver2.js', args: ['--quiet', ECHO], oneRequest: true },
];

/** A small deterministic PRNG, so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

function segments(raw: Buffer, random: () => number): Buffer[] {
  const cuts = new Set<number>();
  const n = Math.floor(random() * 4);
  for (let i = 0; i < n; i++) cuts.add(1 + Math.floor(random() * Math.max(1, raw.length - 1)));
  const points = [0, ...[...cuts].sort((a, b) => a - b), raw.length];
  return points.slice(1).map((end, i) => raw.subarray(points[i], end)).filter((p) => p.length > 0);
}

function header(msg: CorpusMessage, name: string): string | undefined {
  return msg.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/** Whether the response to `msg` leaves the connection open (HTTP/1.1 unless close; 1.0 with keep-alive). */
function keepsOpen(msg: CorpusMessage): boolean {
  const connection = (header(msg, 'connection') ?? '').toLowerCase();
  if (msg.version === '1.0') return /\bkeep-alive\b/.test(connection);
  return !/\bclose\b/.test(connection);
}

/** The statuses a server must send for these bytes, from the in-process parse. */
function expectedStatuses(raw: Buffer, target: Target): number[] {
  // The servers' own parser settings: Host required for HTTP/1.1, default limits.
  const outcome = parseChunks([raw], true, {});
  const statuses: number[] = [];
  for (const msg of outcome.messages) {
    if (msg.version === '1.1' && /^100-continue$/i.test(header(msg, 'expect') ?? '')) statuses.push(100);
    statuses.push(200);
    if (!keepsOpen(msg) || target.oneRequest) return statuses;
  }
  if (outcome.verdict === 'reject' && outcome.error !== 'HPE_INVALID_EOF_STATE') statuses.push(statusForParseError(outcome.error as ParseErrorCode));
  return statuses;
}

/** Status codes of the responses in `bytes` (Content-Length framed; 1xx have no body). */
function statusesIn(bytes: Buffer): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (end === -1) break;
    const head = bytes.subarray(at, end).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(head)?.[1] ?? NaN);
    out.push(status);
    const length = status < 200 || status === 204 || status === 304 ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    at = end + 4 + length;
  }
  return out;
}

function exchange(port: number, pieces: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`not closed in 15 s; got ${JSON.stringify(Buffer.concat(got).toString('latin1').slice(0, 300))}`));
    }, 15_000);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {}); // a reset after the answer: what was read counts
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got));
    });
    s.on('connect', async () => {
      for (const p of pieces) {
        if (s.destroyed) return;
        s.write(p);
        await sleep(2);
      }
      s.end();
    });
  });
}

for (const target of TARGETS) {
  describe(`the corpus at the socket: ${target.name}`, () => {
    let server: Server;
    beforeAll(async () => {
      server = await startServer(target.entry, ['--port', '0', ...target.args]);
    });
    afterAll(killAll);

    it(`answers all ${CASES.length} cases as the parser decides, in random segments`, async () => {
      const seed = Number(process.env.CORPUS_SEED ?? Date.now() % 100000);
      const random = rng(seed);
      const wrong: string[] = [];
      for (const c of CASES) {
        const raw = Buffer.from(c.raw_b64, 'base64');
        const pieces = segments(raw, random);
        const want = expectedStatuses(raw, target);
        const got = statusesIn(await exchange(server.port, pieces));
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          wrong.push(`${c.id}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)} (pieces ${pieces.map((p) => p.length).join('+')})`);
        }
      }
      const state = `server ${server.proc.exitCode === null && server.proc.signalCode === null ? 'running' : `exited (${server.proc.exitCode ?? server.proc.signalCode})`}; its stderr: ${server.stderr().slice(-1500)}`;
      expect(wrong, `CORPUS_SEED=${seed}; ${wrong.length} of ${CASES.length} differ:\n${wrong.slice(0, 15).join('\n')}\n${state}`).toEqual([]);
    }, 240_000);
  });
}
