// Orderly stops of concurrent-final, with the built-in app and with an app: TERM and Ctrl-C (SIGINT
// to the whole process group, as a terminal sends it) let responses in flight finish, close idle
// keep-alive connections at once, answer a request that was arriving with Connection: close; a
// second signal ends everything at once. Servers run in a process group of their own.
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, childStates, killAll, sleep, startServer, until, type Server } from '../helpers/procs';

afterEach(killAll);

const SLOW_BIG = `${path.join(FIXTURES, 'apps', 'slow-big.js')}:app`;
const BIG = 512 * 1024;

interface Reply {
  /** Everything received until the server closed. */
  text: string;
  /** ms from the start of the call to EOF. */
  closedAfterMs: number;
}

/** Opens a connection, sends `first`, and collects everything until the server closes it. */
function connection(port: number, first: string): { socket: net.Socket; reply: Promise<Reply> } {
  const t0 = Date.now();
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let text = '';
  socket.setEncoding('latin1').on('data', (d: string) => (text += d));
  socket.on('error', () => {});
  socket.write(first);
  const reply = new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not closed in 30 s; got ${text.length} bytes: ${JSON.stringify(text.slice(0, 300))}`)), 30_000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: Date.now() - t0 });
    });
  });
  return { socket, reply };
}

function bodyOf(text: string): string {
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

async function exitAfter(server: Server, t0: number): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const e = await server.exited;
  return { ...e, ms: Date.now() - t0 };
}

const SERVERS = [
  { name: 'the built-in app', args: [] as string[], path: '/hello' },
  { name: 'an app', args: [SLOW_BIG], path: '/' },
];

describe('concurrent-final stops in order', () => {
  it('Ctrl-C to the process group while a 512 KB response is in flight: the body arrives whole, exit 0', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', SLOW_BIG], { group: true });
    const big = connection(server.port, 'GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => (big.socket.bytesRead ?? 0) > 0, Boolean, 'the first piece of the response');
    const t0 = Date.now();
    process.kill(-server.pid, 'SIGINT'); // what the terminal does: parent and children alike
    const r = await big.reply;
    const exit = await exitAfter(server, t0);
    const seen = `got ${bodyOf(r.text).length} body bytes; exit ${JSON.stringify(exit)}; stdout ${server.stdout()} stderr ${server.stderr()}`;
    expect(bodyOf(r.text).length, seen).toBe(BIG);
    expect(exit.code, seen).toBe(0);
    expect(server.stdout()).toMatch(/Stopped after 1 connection\.\n$/);
    expect(server.stderr()).toBe('');
  }, 60_000);

  for (const s of SERVERS) {
    it(`TERM with an idle keep-alive connection (${s.name}): the connection closes and the server exits within 1 s`, async () => {
      const server = await startServer('concurrent-final.js', ['--port', '0', '--keep-alive-timeout', '60', ...s.args], { group: true });
      const idle = connection(server.port, `GET ${s.path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => (idle.socket.bytesRead ?? 0) > 0, Boolean, 'the answer');
      await sleep(200); // the connection is idle now, waiting for a next request
      const t0 = Date.now();
      server.kill('SIGTERM');
      const exit = await exitAfter(server, t0);
      const r = await idle.reply;
      const seen = `exit ${JSON.stringify(exit)} after ${exit.ms} ms; stdout ${server.stdout()}`;
      expect(r.text, seen).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(exit.code, seen).toBe(0);
      expect(exit.ms, seen).toBeLessThan(1000);
    }, 60_000);

    it(`a request that was arriving when TERM came is answered with Connection: close (${s.name})`, async () => {
      const server = await startServer('concurrent-final.js', ['--port', '0', ...s.args], { group: true });
      const half = connection(server.port, `GET ${s.path} HTTP/1.1\r\nHost: x\r\n`);
      const kids = async (): Promise<number> => (await childStates(server.pid)).length;
      for (let i = 0; i < 100 && (await kids()) === 0; i++) await sleep(50);
      await sleep(200); // the child is reading the head
      server.kill('SIGTERM');
      await sleep(300);
      half.socket.write('Accept: */*\r\n\r\n');
      const r = await half.reply;
      expect(r.text, r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(r.text, r.text).toMatch(/\r\nConnection: close\r\n/i);
      const exit = await server.exited;
      expect(exit.code, server.stdout() + server.stderr()).toBe(0);
    }, 60_000);
  }

  it('a second TERM does not wait for the responses in flight: their children are killed at once, exit 0', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--graceful-timeout', '60', SLOW_BIG], { group: true });
    const slow = connection(server.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'); // 8 s of response
    await until(() => (slow.socket.bytesRead ?? 0) > 0, Boolean, 'the first piece of the response');
    server.kill('SIGTERM');
    await until(() => server.stdout().includes('Waiting up to 60 s for 1 child'), Boolean, 'the waiting line');
    const t0 = Date.now();
    server.kill('SIGTERM');
    const exit = await exitAfter(server, t0);
    const r = await slow.reply;
    const seen = `exit ${JSON.stringify(exit)}; stdout ${server.stdout()}`;
    expect(exit.code, seen).toBe(0);
    expect(server.stdout(), seen).toMatch(/Stopped after 1 connection; killed 1 child at the second signal\.\n$/);
    expect(bodyOf(r.text).length, 'the response was cut').toBeLessThan(BIG);
    expect(exit.ms, seen).toBeLessThan(5000); // the response alone needed 8 s
  }, 60_000);
});
