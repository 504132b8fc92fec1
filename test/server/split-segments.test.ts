// Requests split across TCP segments, at the socket: every split position of a request, written in
// two sends with TCP_NODELAY and a pause between them, so the server reads them in two recv()s.
// The built-in app's connection loop reuses its read buffer; a parser that kept a slice of it for
// the unfinished line saw it overwritten by the next recv() and answered 400 (21 of 27 positions).
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, killAll, sleep, startServer } from '../helpers/procs';

afterEach(killAll);

const EXPRESS = `${path.join(ROOT, 'examples', 'express', 'app.js')}:app`;
const REQUEST = 'GET /hello HTTP/1.1\r\nHost: x\r\nUser-Agent: split/1\r\nConnection: close\r\n\r\n';

/** Sends `parts` one by one (a pause between them), returns everything the server sent until it closed. */
function sendInParts(port: number, parts: string[], pauseMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`${got}[no end after 10 s]`);
    }, 10_000);
    s.setEncoding('latin1').on('data', (d: string) => (got += d));
    s.on('end', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    });
    s.on('error', reject);
    s.on('connect', async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0) await sleep(pauseMs);
        s.write(p);
      }
    });
  });
}

describe('a request split across TCP segments, at every position', () => {
  it.each([
    ['concurrent-final, built-in app', 'concurrent-final.js', []],
    ['concurrent-final + Express', 'concurrent-final.js', [EXPRESS]],
    ['webserver2 + Express', 'webserver2.js', [EXPRESS]],
  ])('%s answers 200 whatever the split', async (_name, entry, args) => {
    const server = await startServer(entry, ['--port', '0', '--quiet', ...args]);
    const bad: string[] = [];
    for (let at = 1; at < REQUEST.length; at++) {
      const answer = await sendInParts(server.port, [REQUEST.slice(0, at), REQUEST.slice(at)], 25);
      if (!answer.startsWith('HTTP/1.1 200 OK\r\n')) bad.push(`split at ${at} (${JSON.stringify(REQUEST.slice(0, at))}): ${JSON.stringify(answer.slice(0, 40))}`);
    }
    expect(bad, `${bad.length} of ${REQUEST.length - 1} split positions failed`).toEqual([]);
  }, 120_000);
});
