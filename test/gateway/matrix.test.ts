// The gateway matrix: every example app served by webserver2 (part 2), by concurrent-final (a fork
// per connection, 3h) and by node:http as the reference (@hono/node-server for fetch handlers),
// over real loopback sockets. Same status, headers (minus Date/Server/Connection/Keep-Alive) and
// body for each request; and a client that leaves mid-response does not stop the server.
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, childStates, killAll, sleep, startServer, type Server } from '../helpers/procs';

afterAll(killAll);

const EXAMPLES: [name: string, file: string][] = [
  ['express', 'express/app.js:app'],
  ['koa', 'koa/app.js:app'],
  ['fastify', 'fastify/app.js:app'],
  ['hono', 'hono/app.mjs:app'],
  ['node-listener', 'node-listener/app.js'],
  ['fetch', 'fetch/app.mjs'],
];
/** Plain handlers have no error page of their own: the 500 comes from the host, so only its status is compared. */
const HOST_ERROR_PAGE = new Set(['node-listener', 'fetch']);
const FETCH = new Set(['hono', 'fetch']);

const IGNORED = new Set(['date', 'server', 'connection', 'keep-alive']);

/**
 * Whitespace around ';' in a media type and the case of its charset are not significant (RFC 9110
 * §8.3.1): @hono/node-server writes "text/plain; charset=UTF-8" where undici's Response, which
 * forkserve passes through, says "text/plain;charset=UTF-8".
 */
function normalizeHeader(name: string, value: string): string {
  return name === 'content-type' ? value.replace(/\s*;\s*/g, ';').toLowerCase() : value;
}
const UPLOAD = randomBytes(5 * 1024 * 1024);
const UPLOAD_SHA = createHash('sha256').update(UPLOAD).digest('hex');

interface Reply {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | 'upload';
}

const CASES: Case[] = [
  { name: 'GET /hello', method: 'GET', path: '/hello' },
  { name: 'query parsing', method: 'GET', path: '/query?name=forkserve&tag=a&tag=b&empty=' },
  { name: 'JSON POST echo', method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"hello":"world","n":[1,2,3],"nested":{"ok":true}}') },
  { name: 'a 5 MB chunked upload', method: 'POST', path: '/upload', headers: { 'content-type': 'application/octet-stream' }, body: 'upload' },
  { name: 'a streamed response', method: 'GET', path: '/stream' },
  { name: 'a redirect', method: 'GET', path: '/redirect' },
  { name: 'several Set-Cookie headers', method: 'GET', path: '/cookies' },
  { name: 'HEAD', method: 'HEAD', path: '/hello' },
  { name: '404', method: 'GET', path: '/no/such/route' },
  { name: 'a thrown error -> 500', method: 'GET', path: '/error' },
];

function request(port: number, agent: http.Agent, c: Case): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers: c.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const headers: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i].toLowerCase();
          if (!IGNORED.has(name)) headers.push([name, normalizeHeader(name, res.rawHeaders[i + 1])]);
        }
        // Order between different names is the server's business; between equal names (Set-Cookie) it is not.
        headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        resolve({ status: res.statusCode!, headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`${c.name}: no response in 20 s`)));
    req.on('error', reject);
    if (c.body === 'upload') {
      // Written in pieces without a length: Transfer-Encoding: chunked.
      for (let off = 0; off < UPLOAD.length; off += 256 * 1024) req.write(UPLOAD.subarray(off, off + 256 * 1024));
      req.end();
    } else req.end(c.body);
  });
}

/** GET /slow, read ~16 KiB of it, then reset the connection. */
function leaveMidResponse(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    s.on('data', (d) => {
      got += d.length;
      if (got >= 16 * 1024) {
        s.resetAndDestroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    setTimeout(() => reject(new Error(`only ${got} bytes of /slow in 10 s`)), 10_000).unref();
  });
}

describe.each(EXAMPLES)('%s', (name, spec) => {
  const servers: Record<string, Server> = {};
  const agents: Record<string, http.Agent> = {};
  const kinds = ['reference', 'webserver2', 'concurrent-final'] as const;

  beforeAll(async () => {
    const app = path.join(ROOT, 'examples', spec);
    const [reference, ws2, final] = await Promise.all([
      startServer(path.join(FIXTURES, 'reference-server.mjs'), [name]),
      startServer('webserver2.js', ['--port', '0', '--quiet', app]),
      startServer('concurrent-final.js', ['--port', '0', app]),
    ]);
    Object.assign(servers, { reference, webserver2: ws2, 'concurrent-final': final });
    for (const k of kinds) agents[k] = new http.Agent({ keepAlive: true, maxSockets: 1 });
  });

  afterAll(() => {
    for (const a of Object.values(agents)) a.destroy();
    for (const s of Object.values(servers)) s.kill();
  });

  it.each(CASES)('$name: same status, headers and body as node:http', async (c) => {
    const [reference, ws2, final] = await Promise.all(kinds.map((k) => request(servers[k].port, agents[k], c)));
    if (c.body === 'upload') expect(JSON.parse(reference.body.toString())).toEqual({ bytes: UPLOAD.length, sha256: UPLOAD_SHA });
    if (c.name.startsWith('a thrown error') && HOST_ERROR_PAGE.has(name)) {
      for (const r of [reference, ws2, final]) expect(r.status).toBe(500);
      return;
    }
    expect(reference.status).not.toBe(0);
    if (c.name === 'a redirect' && FETCH.has(name)) {
      // The one deliberate difference: a Response with a null body. @hono/node-server writes the
      // head before it looks at the body, so node:http frames an empty chunked body; forkserve
      // knows there is none and says Content-Length: 0. Fails if the reference starts agreeing.
      expect(reference.headers).toContainEqual(['transfer-encoding', 'chunked']);
      for (const r of [ws2, final]) expect(r.headers).toContainEqual(['content-length', '0']);
      const framing = (r: Reply): Reply => ({ ...r, headers: r.headers.filter(([n]) => n !== 'transfer-encoding' && n !== 'content-length') });
      expect(framing(ws2)).toEqual(framing(reference));
      expect(framing(final)).toEqual(framing(reference));
      return;
    }
    expect(ws2).toEqual(reference);
    expect(final).toEqual(reference);
  });

  it('a client that disconnects mid-response: the server notices and keeps serving', async () => {
    for (const k of ['webserver2', 'concurrent-final'] as const) {
      const server = servers[k];
      agents[k].destroy(); // its idle keep-alive connection would keep a child waiting
      await leaveMidResponse(server.port);
      const left = Date.now();
      // webserver2 is iterative: it answers the next client only once it is done with this one.
      const hello = await request(server.port, new http.Agent(), CASES[0]);
      expect(hello.status, k).toBe(200);
      expect(Date.now() - left, `${k} was still sending /slow (5 s) to a client that had left`).toBeLessThan(2500);
      if (k === 'concurrent-final') {
        // The child of the abandoned connection ends too (and is reaped: no zombie).
        const deadline = Date.now() + 2500;
        let states = await childStates(server.pid);
        while (states.length > 0 && Date.now() < deadline) {
          await sleep(50);
          states = await childStates(server.pid);
        }
        expect(states, 'children left behind').toEqual([]);
      }
    }
    expect(servers['concurrent-final'].stderr()).not.toMatch(/Child \d+ (?:was killed|exited with)/);
  });
});
