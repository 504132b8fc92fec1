// Stage 1: webserver1 and client1, byte-exact, over a raw socket and through curl.
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, killAll, run, startServer } from '../helpers/procs';

afterEach(killAll);

const CANNED = 'HTTP/1.1 200 OK\n\nHello, World!\n';

/** Connects, sends `data`, reads until the server closes. */
function exchange(port: number, data: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.setTimeout(5000, () => reject(new Error('timed out')));
  });
}

describe('webserver1', () => {
  it('answers any bytes with the exact 31-byte canned response and prints the request', async () => {
    const server = await startServer('webserver1.js', ['--port', '0', '--host', '127.0.0.1']);
    const reply = await exchange(server.port, 'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(reply.length).toBe(31);
    expect(reply.toString('latin1')).toBe(CANNED);
    const garbage = await exchange(server.port, Buffer.from([0xff, 0x00, 0x41, 0x0a]));
    expect(garbage.toString('latin1')).toBe(CANNED);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.stdout()).toContain('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(server.stdout().split('\n')[0]).toBe(`Serving HTTP on port ${server.port} ...`);
  });

  it('serves curl: status 200 and body "Hello, World!"', async () => {
    const server = await startServer('webserver1.js', ['--port', '0']);
    const r = await run('curl', ['-sS', '-m', '5', '-i', `http://127.0.0.1:${server.port}/hello`], 10_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(CANNED);
  });

  it('keeps serving after a client that connects and leaves without sending', async () => {
    const server = await startServer('webserver1.js', ['--port', '0']);
    await new Promise<void>((resolve) => {
      const s = net.connect(server.port, '127.0.0.1', () => s.destroy());
      s.on('close', () => resolve());
    });
    expect((await exchange(server.port, 'x')).toString('latin1')).toBe(CANNED);
  });

  it('a port in use: one-line "bind EADDRINUSE" error, exit 1, no stack trace', async () => {
    const server = await startServer('webserver1.js', ['--port', '0']);
    const r = await run(process.execPath, [path.join(DIST, 'webserver1.js'), '--port', String(server.port)], 10_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bind EADDRINUSE/);
    expect(r.stderr).toContain(`:${server.port}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--help prints usage and exits 0; a bad flag or port exits 2', async () => {
    const help = await run(process.execPath, [path.join(DIST, 'webserver1.js'), '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: .*webserver1\.js/);
    expect(help.stdout).toContain('--port');
    const bad = await run(process.execPath, [path.join(DIST, 'webserver1.js'), '--nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--nope'");
    const port = await run(process.execPath, [path.join(DIST, 'webserver1.js'), '--port', 'abc']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain("invalid port 'abc'");
  });
});

describe('client1', () => {
  it('connects from an ephemeral port, sends its bytes and prints the reply', async () => {
    const server = await startServer('webserver1.js', ['--port', '0']);
    const r = await run(process.execPath, [path.join(DIST, 'client1.js'), '--port', String(server.port), '--host', '127.0.0.1'], 10_000);
    expect(r.code, r.stderr).toBe(0);
    const m = /^Connected from 127\.0\.0\.1:(\d+) to 127\.0\.0\.1:(\d+)\n/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(Number(m![1])).not.toBe(server.port);
    expect(Number(m![2])).toBe(server.port);
    expect(r.stdout.slice(m![0].length)).toBe(CANNED);
    await new Promise((res) => setTimeout(res, 100));
    expect(server.stdout()).toContain('\ntest\n');
  });
});
