// The parser's properties at the socket: generated valid requests written to running servers in
// random segments (TCP_NODELAY, a short pause between writes, so the server reads them in several
// recv() calls) are answered as if they had come whole. The built-in app answers every request with
// its hello; an echo app (through the gateway, forked and iterative) says what it received.
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { request, serialize, split, type Req } from '../http/request-arbitrary';
import { FIXTURES, killAll, sleep, startServer } from '../helpers/procs';

afterEach(killAll);

const ECHO = `${path.join(FIXTURES, 'apps', 'echo.js')}:app`;
// HEAD has no body to echo; the rest of the generated methods are tokens any server must accept.
const notHead = request.filter((r) => r.method !== 'HEAD');

interface Answer {
  status: number;
  body: string;
}

/** Writes `pieces` with a pause after each, reads one Content-Length response. */
function exchangeInPieces(port: number, pieces: Buffer[], pauseMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer in 10 s; got ${JSON.stringify(got.toString('latin1').slice(0, 200))}`));
    }, 10_000);
    const tryParse = (): void => {
      const text = got.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? NaN);
      if (Number.isNaN(length) || got.length < end + 4 + length) return;
      clearTimeout(timer);
      s.destroy();
      resolve({ status: Number(text.slice(9, 12)), body: got.subarray(end + 4, end + 4 + length).toString('utf8') });
    };
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      tryParse();
    });
    s.on('error', reject);
    s.on('connect', async () => {
      for (const p of pieces) {
        if (p.length > 0) s.write(p);
        await sleep(pauseMs);
      }
    });
  });
}

function expectEcho(r: Req, answer: Answer): void {
  expect(answer.status, answer.body).toBe(200);
  const echo = JSON.parse(answer.body) as { method: string; url: string; rawHeaders: string[]; length: number; sha256: string };
  expect(echo.method).toBe(r.method);
  expect(echo.url).toBe(r.target);
  const sent = r.headers.map(([n, v]) => [n, v]);
  const pairs: string[][] = [];
  for (let i = 0; i < echo.rawHeaders.length; i += 2) pairs.push([echo.rawHeaders[i], echo.rawHeaders[i + 1]]);
  expect(pairs.slice(1, 1 + sent.length)).toEqual(sent); // after Host, in order
  expect(echo.length).toBe(r.body.length);
  expect(echo.sha256).toBe(crypto.createHash('sha256').update(r.body).digest('hex'));
}

const pieces = fc.array(fc.nat(), { minLength: 1, maxLength: 6 });
const pause = fc.integer({ min: 0, max: 4 });

describe('generated requests in random TCP segments, at running servers', () => {
  it.each([
    ['concurrent-final + echo app (a fork per connection)', 'concurrent-final.js'],
    ['webserver2 + echo app (iterative)', 'webserver2.js'],
  ])('%s receives each request as it was sent', async (_name, entry) => {
    const server = await startServer(entry, ['--port', '0', '--quiet', ECHO]);
    await fc.assert(
      fc.asyncProperty(notHead, pieces, pause, async (r, cuts, ms) => {
        expectEcho(r, await exchangeInPieces(server.port, split(serialize(r), cuts), ms));
      }),
      { numRuns: 60 },
    );
  }, 180_000);

  it('concurrent-final with its built-in app answers every one with its hello', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--quiet']);
    await fc.assert(
      fc.asyncProperty(notHead, pieces, pause, async (r, cuts, ms) => {
        const answer = await exchangeInPieces(server.port, split(serialize(r), cuts), ms);
        expect(answer).toEqual({ status: 200, body: 'Hello, World!\n' });
      }),
      { numRuns: 60 },
    );
  }, 180_000);
});
