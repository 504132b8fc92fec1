// concurrent-final speaks HTTP/1.1 through src/http: real responses, keep-alive within one child,
// parse errors answered with their mapped status, idle and header timeouts.
import { afterEach, describe, expect, it } from 'vitest';
import { exchange } from '../helpers/net';
import { killAll, run, startServer } from '../helpers/procs';

afterEach(killAll);

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
    const r = await exchange(server.port, req + req + req);
    expect(r.data.toString('latin1').match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(r.endMs).toBeGreaterThanOrEqual(400); // closed by the idle timeout, not after a response
    expect(r.endMs).toBeLessThan(3000);
    // The LF-only request of the tutorial's client is HTTP too; HTTP/1.0 closes after its response.
    const lf = await exchange(server.port, 'GET /hello HTTP/1.0\nHost: localhost\n\n');
    expect(lf.data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n/);
    expect(lf.endMs).toBeLessThan(1000);
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
      const r = await exchange(server.port, req);
      expect(r.data.toString('latin1')).toMatch(status);
      expect(r.data.toString('latin1')).toContain('Connection: close\r\n');
      expect(r.endMs).not.toBeNull();
    }
    // ... and keeps serving.
    expect((await exchange(server.port, 'GET / HTTP/1.0\r\n\r\n')).data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK/);
  });

  it('a head that does not arrive in time gets 408 (slowloris)', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--headers-timeout', '0.4']);
    const r = await exchange(server.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(r.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(r.endMs).toBeGreaterThanOrEqual(350);
    expect(r.endMs).toBeLessThan(3000);
  });

  it('Expect: 100-continue gets an interim response before the body is sent', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0']);
    const r = await run('curl', ['-sS', '-v', '-m', '5', '-H', 'Expect: 100-continue', '--data-binary', 'x'.repeat(2000), `http://127.0.0.1:${server.port}/up`], 10_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('< HTTP/1.1 100 Continue');
    expect(r.stdout).toBe('Hello, World!\n');
  });
});
