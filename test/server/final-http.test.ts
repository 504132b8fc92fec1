// concurrent-final speaks HTTP/1.1 through src/http: real responses, keep-alive within one child,
// parse errors answered with their mapped status, idle and header timeouts.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, run, startServer } from '../helpers/procs';

afterEach(killAll);

/** Sends `data` on one connection and collects everything until the server closes (or timeoutMs). */
function converse(port: number, data: string, timeoutMs = 5000): Promise<{ text: string; closedMs: number | null }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedMs: null });
    }, timeoutMs);
    s.on('data', (d) => chunks.push(d));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedMs: Date.now() - t0 });
    });
    s.on('error', reject);
  });
}

describe('concurrent-final over HTTP/1.1', () => {
  it('answers with CRLF, Content-Length, Date and Server: forkserve/<version>', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0']);
    const r = await run('curl', ['-sS', '-i', '-m', '5', `http://127.0.0.1:${server.port}/hello`], 10_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toContain('Content-Length: 14\r\n');
    expect(r.stdout).toMatch(/\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/);
    expect(r.stdout).toMatch(/\r\nServer: forkserve\/\d+\.\d+\.\d+\r\n/);
    expect(r.stdout.endsWith('\r\n\r\nHello, World!\n')).toBe(true);
  });

  it('one child serves every keep-alive request of its connection, pipelined too', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--keep-alive-timeout', '0.5']);
    const req = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await converse(server.port, req + req + req);
    expect(r.text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(r.closedMs).toBeGreaterThanOrEqual(400); // closed by the idle timeout, not after a response
    expect(r.closedMs).toBeLessThan(3000);
    // The LF-only request of the tutorial's client is HTTP too; HTTP/1.0 closes after its response.
    const lf = await converse(server.port, 'GET /hello HTTP/1.0\nHost: localhost\n\n');
    expect(lf.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n/);
    expect(lf.closedMs).toBeLessThan(1000);
  });

  it('answers parse errors with their status and closes: 400, 505, 431, 413', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--max-body', '10']);
    const cases: [string, RegExp][] = [
      ['GET / HTTP/1.1\r\nHost : x\r\n\r\n', /^HTTP\/1\.1 400 Bad Request\r\n/],
      ['GET / HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400 Bad Request\r\n/],
      ['GET / HTTP/2.0\r\n\r\n', /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/],
      [`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(9000)}\r\n\r\n`, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/],
      ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world', /^HTTP\/1\.1 413 Content Too Large\r\n/],
      ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', /^HTTP\/1\.1 400 Bad Request\r\n/],
    ];
    for (const [req, status] of cases) {
      const r = await converse(server.port, req);
      expect(r.text).toMatch(status);
      expect(r.text).toContain('Connection: close\r\n');
      expect(r.closedMs).not.toBeNull();
    }
    // ... and keeps serving.
    expect((await converse(server.port, 'GET / HTTP/1.0\r\n\r\n')).text).toMatch(/^HTTP\/1\.1 200 OK/);
  });

  it('a head that does not arrive in time gets 408 (slowloris)', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--headers-timeout', '0.4']);
    const r = await converse(server.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(r.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(r.closedMs).toBeGreaterThanOrEqual(350);
    expect(r.closedMs).toBeLessThan(3000);
  });

  it('Expect: 100-continue gets an interim response before the body is sent', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0']);
    const r = await run('curl', ['-sS', '-v', '-m', '5', '-H', 'Expect: 100-continue', '--data-binary', 'x'.repeat(2000), `http://127.0.0.1:${server.port}/up`], 10_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('< HTTP/1.1 100 Continue');
    expect(r.stdout).toBe('Hello, World!\n');
  });
});
