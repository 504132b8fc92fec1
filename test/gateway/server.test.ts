// The gateway from the outside: how webserver2 and concurrent-final find an app and report what
// is wrong with it, the tutorial's "< / >" trace, and how a hosted app's failures stay contained
// (malformed requests, crashing handlers, slow or absent readers). Servers run as throw-away
// processes; children and memory are read from ps and /proc.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { exchange } from '../helpers/net';
import { FIXTURES, ROOT, childStates, eventually, killAll, run, sleep, startServer, until } from '../helpers/procs';

afterEach(killAll);

const APPS = path.join(FIXTURES, 'apps');
const EXPRESS = path.join(ROOT, 'examples', 'express', 'app.js');
const node = (entry: string, ...args: string[]) => run(process.execPath, [path.join(ROOT, 'dist', entry), ...args], 20_000);

function oneLineError(r: { code: number | null; stderr: string }, code: number): string {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace for a user's mistake
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  return r.stderr;
}

describe('finding the app: module:export', () => {
  it('webserver2 without an app prints the usage line and exits 1', async () => {
    const r = await node('webserver2.js', '--port', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Provide an app as module:export\n');
  });

  it.each([
    ['a missing module', ['no/such/app.js'], /cannot find module 'no\/such\/app\.js' \(tried .*no\/such\/app\.js, .*no\/such\/app\.js\.js/],
    ['a missing export', [`${EXPRESS}:nope`], /has no export 'nope' \(it exports: app/],
    ['an export that is a number', [`${APPS}/not-an-app.js:app`], /export 'app' is number, not an app/],
    ['an object without fetch()', [`${APPS}/not-an-app.js:thing`], /export 'thing' is not an app: an object without fetch\(\)/],
    ['null', [`${APPS}/not-an-app.js:nothing`], /export 'nothing' is null, not an app/],
    ['a module that throws while loading', [`${APPS}/throws-on-load.js`], /cannot load .*throws-on-load\.js: cannot start: missing config/],
    ['--interface node on a fetch object', ['--interface', 'node', path.join(ROOT, 'examples', 'fetch', 'app.mjs')], /is not a \(req, res\) listener/],
    ['a Promise export that rejects', [`${APPS}/rejected.js`], /export 'app' of .*rejected\.js is a Promise that rejected: database unreachable$/m],
    ['a bare package name (a slip: its default export is the library)', ['express'], /has no export 'app' \(it exports: .*\); 'express' is a package: name your app's file, or the export as express:<export>$/m],
  ])('%s: one line naming what was tried, exit 1', async (_name, args, message) => {
    for (const entry of ['webserver2.js', 'concurrent-final.js']) {
      const r = await node(entry, '--port', '0', ...args);
      expect(oneLineError(r, 1)).toMatch(message);
      expect(r.stdout, 'nothing is served').toBe('');
    }
  });

  it('usage mistakes exit 2: a bad --interface, --interface or --canned with/without an app, two apps', async () => {
    expect(oneLineError(await node('webserver2.js', '--interface', 'wsgi', EXPRESS), 2)).toContain("invalid --interface 'wsgi' (expected node or fetch)");
    expect(oneLineError(await node('concurrent-final.js', '--interface', 'node'), 2)).toContain('--interface needs an app');
    expect(oneLineError(await node('concurrent-final.js', '--canned', EXPRESS), 2)).toContain('--canned answers without an app');
    expect(oneLineError(await node('webserver2.js', EXPRESS, EXPRESS), 2)).toContain('one app only');
  });

  it('serves an http.Server, a Promise of an app, a bare fetch function, and a 2-parameter fetch handler with --interface fetch', async () => {
    const cases: [string[], RegExp][] = [
      [[`${APPS}/http-server.js:server`], /from an http\.Server: GET \/x\?y=1/],
      [[`${APPS}/promised.js`], /built asynchronously/],
      [['--interface', 'fetch', `${APPS}/fetch-with-env.mjs`], /fetch handler, \/x, env: undefined/],
      [[`${APPS}/fetch-function.mjs`], /a fetch function: GET \?y=1/],
    ];
    for (const [args, body] of cases) {
      for (const entry of ['webserver2.js', 'concurrent-final.js']) {
        const server = await startServer(entry, ['--port', '0', '--quiet', ...args]);
        const r = await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${server.port}/x?y=1`], 10_000);
        expect(r.stdout, `${entry} ${args.join(' ')}: ${r.stderr}`).toMatch(body);
        server.kill();
      }
    }
  });

  it("a folder serves its package.json main; a module that calls listen() itself is warned about, and forkserve serves it", async () => {
    for (const entry of ['webserver2.js', 'concurrent-final.js']) {
      const folder = await startServer(entry, ['--port', '0', '--quiet', `${APPS}/with-main`]);
      expect((await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${folder.port}/m`], 10_000)).stdout).toBe('from package.json main: GET /m');
      folder.kill();
      const listens = await startServer(entry, ['--port', '0', '--quiet', `${APPS}/listens.js`]);
      expect((await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${listens.port}/l`], 10_000)).stdout).toBe('served by forkserve: /l');
      expect(listens.stderr()).toMatch(/^warning: loading .*listens\.js called listen\(\) \(port 0\): that server runs in this process, beside forkserve's/);
      expect(listens.stderr(), 'advice for both module kinds').toMatch(/CommonJS: if \(require\.main === module\) \.\.\.; ES module: if \(import\.meta\.filename === process\.argv\[1\]\)/);
      listens.kill();
    }
  });

  it('reports what it serves on the second line', async () => {
    const server = await startServer('webserver2.js', ['--port', '0', '--quiet', path.join(ROOT, 'examples', 'hono', 'app.mjs')]);
    await sleep(100);
    expect(server.stdout().split('\n')[1]).toMatch(/^Serving .*examples\/hono\/app\.mjs \(Hono, fetch interface\)$/);
  });
});

describe('TCP_NODELAY on every accepted connection, as node:http sets it', () => {
  // Without it a response written in two pieces on a keep-alive connection waits ~40 ms for the
  // client's delayed ACK (22 req/s against node:http's 11,000 on one connection). The app reads the
  // option back from the kernel with getsockopt; bench/nodelay.js measures the stall itself.
  const NODELAY = `${APPS}/nodelay.js`;
  it.each([
    ['webserver2.js', ['--quiet']],
    ['concurrent-final.js', ['--quiet']],
    ['forkserve.js', ['-w', '1']],
  ])('%s: on for each connection, and the app can turn it off (setNoDelay(false)); forkserve on a unix socket: a no-op', async (entry, extra) => {
    const server = await startServer(entry, [...extra, '--port', '0', NODELAY]);
    const url = `http://127.0.0.1:${server.port}`;
    const r = await run('curl', ['-sS', '-m', '5', `${url}/`, `${url}/again`, '--next', '-sS', '-m', '5', `${url}/off`], 10_000);
    expect(r.stdout, r.stderr).toBe('nodelay=1\nnodelay=1\nnodelay=0\n');
    server.kill();
    if (entry !== 'forkserve.js') return;
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-nodelay-')), 's.sock');
    const onUnix = await startServer(entry, [...extra, '-b', `unix:${sock}`, NODELAY]);
    const u = await run('curl', ['-sS', '-m', '5', '--unix-socket', sock, 'http://x/off'], 10_000);
    expect(u.stdout, u.stderr + onUnix.stderr()).toBe('nodelay=unix\n');
    onUnix.kill();
  });
});

describe('--no-server-header', () => {
  it.each([['concurrent-final.js', ['--quiet']], ['forkserve.js', ['-w', '1']]])('%s: no Server header, as node:http; the app\'s own is kept, once (node and fetch apps)', async (entry, extra) => {
    const plain = await startServer(entry, [...extra, '--port', '0', '--no-server-header', `${APPS}/pid.js:app`]);
    const h = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '-m', '5', `http://127.0.0.1:${plain.port}/`], 10_000);
    expect(h.stdout, h.stderr).toMatch(/^HTTP\/1\.1 200/);
    expect(h.stdout).not.toMatch(/^server:/im);
    plain.kill();
    const withDefault = await startServer(entry, [...extra, '--port', '0', `${APPS}/pid.js:app`]);
    expect((await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '-m', '5', `http://127.0.0.1:${withDefault.port}/`], 10_000)).stdout).toMatch(/^Server: forkserve\/\S+\r$/m);
    withDefault.kill();
    for (const exported of ['app', 'fetchApp']) {
      const own = await startServer(entry, [...extra, '--port', '0', `${APPS}/own-server.js:${exported}`]);
      const o = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '-m', '5', `http://127.0.0.1:${own.port}/`], 10_000);
      own.kill();
      expect(o.stdout.match(/^server: .*$/gim), `${exported}: ${o.stdout}`).toEqual([expect.stringMatching(/^server: mine$/i)]);
    }
  });
});

describe("an app's shutdown hook that re-raises TERM (Apollo Server's stopOnTerminationSignals)", () => {
  it('concurrent-final: the re-raised TERM is not a second TERM; a query in flight completes', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', `${APPS}/apollo.js`], { env: { ...process.env, NODE_ENV: 'production' } });
    const query = run('curl', ['-sS', '-m', '20', '-H', 'content-type: application/json', '--data', '{"query":"{ slow(ms: 2500) }"}', `http://127.0.0.1:${server.port}/graphql`], 30_000);
    await eventually(async () => (await childStates(server.pid)).length, (n) => n > 0, 10_000);
    await sleep(300);
    server.kill('SIGTERM');
    const r = await query;
    const seen = `${r.stdout}${r.stderr} | stdout: ${server.stdout()} | stderr: ${server.stderr()}`;
    expect(r.stdout, seen).toBe('{"data":{"slow":"done after 2500 ms"}}\n');
    expect((await server.exited).code, seen).toBe(0);
    expect(server.stdout(), seen).toMatch(/SIGTERM sent by the app to itself \(a shutdown hook re-raising it\): still waiting for the children/);
    expect(server.stderr(), seen).not.toMatch(/SIGKILL/);
  }, 60_000);
});

describe('WebSockets: ws on the exported http.Server', () => {
  const WS_APP = `${APPS}/ws-echo.js:server`;

  /** One client: its greeting, then `n` text messages and one 1 MB binary frame echoed back, a ping answered, a clean close. */
  async function echoClient(port: number, n: number): Promise<string> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const received: (string | Buffer)[] = [];
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('message', (data, isBinary) => received.push(isBinary ? (data as Buffer) : data.toString()));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const big = Buffer.alloc(1 << 20, 7);
    for (let i = 0; i < n; i++) ws.send(`message ${i}`);
    ws.send(big);
    const pong = new Promise<void>((resolve) => ws.once('pong', () => resolve()));
    ws.ping();
    await pong;
    const deadline = Date.now() + 20_000;
    while (received.length < n + 2 && Date.now() < deadline) await sleep(20);
    ws.close(1000);
    expect(await closed).toBe(1000);
    expect(received[0]).toMatch(/^hello from \d+$/);
    expect(received.slice(1, n + 1)).toEqual(Array.from({ length: n }, (_, i) => `message ${i}`));
    expect(Buffer.isBuffer(received[n + 1]) && (received[n + 1] as Buffer).equals(big), 'the 1 MB frame, intact').toBe(true);
    return received[0] as string;
  }

  it.each([
    ['webserver2.js', ['--quiet']],
    ['concurrent-final.js', ['--quiet']],
    ['forkserve.js', ['-w', '2']],
  ])('%s: 20 clients echo 50 messages and a 1 MB frame each, ping/pong, close; plain HTTP beside them', async (entry, extra) => {
    const server = await startServer(entry, [...extra, '--port', '0', WS_APP]);
    const greetings = await Promise.all(Array.from({ length: 20 }, () => echoClient(server.port, 50)));
    expect(greetings).toHaveLength(20);
    expect((await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${server.port}/`], 10_000)).stdout).toMatch(/^http \d+\n$/);
    expect(server.stderr()).toBe('');
  }, 120_000);

  it.each([
    ['concurrent-final.js', ['--quiet']],
    ['forkserve.js', ['-w', '2']],
  ])("%s: a Fastify app with ws on fastify.server (where @fastify/websocket listens): 5 clients echo; Fastify's routes beside them", async (entry, extra) => {
    const server = await startServer(entry, [...extra, '--port', '0', `${APPS}/fastify-ws.js:app`]);
    expect(await Promise.all(Array.from({ length: 5 }, () => echoClient(server.port, 20)))).toHaveLength(5);
    expect((await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${server.port}/`], 10_000)).stdout).toMatch(/^http \d+\n$/);
    expect(server.stderr()).toBe('');
  }, 60_000);

  it('forkserve: the access log records each WebSocket at its close (101, bytes sent); TERM: the app closes its clients with 1001 and the server exits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-ws-'));
    const log = path.join(dir, 'access.log');
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--access-log', log, WS_APP]);
    await echoClient(server.port, 3);
    const lines = await until(() => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''), (t) => t.includes('GET /chat'), 'the access log line');
    expect(lines).toMatch(/"GET \/chat HTTP\/1\.1" 101 \d+ /);
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/chat`);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    server.kill('SIGTERM');
    expect(await closed).toBe(1001);
    expect((await server.exited).code).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it.each([
    ['webserver2.js', ['--quiet']],
    ['concurrent-final.js', ['--quiet']],
    ['forkserve.js', ['-w', '2']],
  ])('%s: socket.io over its websocket transport: 10 clients greeted and acknowledged', async (entry, extra) => {
    const server = await startServer(entry, [...extra, '--port', '0', `${APPS}/socketio.js:server`], { env: { ...process.env, WS_ONLY: '1' } });
    const answers = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const client = ioClient(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], reconnection: false, timeout: 10_000 });
        try {
          const pid = await new Promise<number>((resolve, reject) => client.once('hello', resolve).once('connect_error', reject));
          const echoed = await client.timeout(10_000).emitWithAck('echo', `ping ${i}`);
          return `${typeof pid} ${echoed}`;
        } finally {
          client.close();
        }
      }),
    );
    expect(answers).toEqual(Array.from({ length: 10 }, (_, i) => `number ping ${i}`));
    if (entry === 'forkserve.js') expect(server.stderr()).toMatch(/^warning: socket\.io \(engine\.io\) with 2 workers: its long-polling transport/m);
    else expect(server.stderr()).toBe('');
  }, 60_000);

  it("CONNECT reaches the app's 'connect' listener with the bytes after the head; the tunnel is the app's", async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', `${APPS}/connect-echo.js:server`]);
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(server.port, '127.0.0.1', () => {
        s.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nearly');
        setTimeout(() => s.write(' later'), 200);
        setTimeout(() => s.end(), 400);
      });
      let text = '';
      s.setEncoding('latin1').on('data', (d: string) => (text += d));
      s.on('close', () => resolve(text));
      s.on('error', reject);
    });
    expect(got).toBe('HTTP/1.1 200 Connection Established\r\nX-Target: example.com:443\r\n\r\nearly later');
  });

  it.each([
    ['concurrent-final.js', ['--quiet']],
    ['forkserve.js', ['-w', '1']],
  ])("%s: an Upgrade's body is the app's, as node:http hands it over; one pipelined after a request is handed over once that is answered", async (entry, extra) => {
    const server = await startServer(entry, [...extra, '--port', '0', `${APPS}/upgrade-echo.js:server`]);
    /** Sends `bytes`; once the app has said what it got, `later` (echoed back), then ends (bounded: 10 s). */
    const talk = (bytes: string, later: string): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect(server.port, '127.0.0.1', () => s.write(bytes));
        const timer = setTimeout(() => s.destroy(), 10_000);
        let text = '';
        let sent = false;
        s.setEncoding('latin1').on('data', (d: string) => {
          text += d;
          if (!sent && /upgraded .*\n/.test(text)) {
            sent = true;
            s.write(later);
          }
          if (sent && text.endsWith(later)) s.end();
        });
        s.on('close', () => {
          clearTimeout(timer);
          resolve(text.replace(/^Date: .*\r\n/gm, ''));
        });
        s.on('error', reject);
      });
    const upgrade = 'GET /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n';
    const switched = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n';
    // node:http does not read a body of an Upgrade request: it is part of `head`.
    expect(await talk(`${upgrade}Content-Length: 5\r\n\r\nhelloREST`, ' later')).toBe(`${switched}upgraded /u head="helloREST"\n later`);
    // (node:http hands the socket over at once and loses the answer to /a; here it is sent first)
    const pipelined = await talk(`GET /a HTTP/1.1\r\nHost: x\r\n\r\n${upgrade}\r\nREST`, ' later');
    expect(pipelined).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nnormal \/a\n/);
    expect(pipelined.slice(pipelined.indexOf('normal /a\n') + 'normal /a\n'.length)).toBe(`${switched}upgraded /u head="REST"\n later`);
    expect(server.stderr()).toBe('');
  });

  it('an app without upgrade listeners answers an Upgrade request as a normal request', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', `${APPS}/pid.js:app`]);
    const r = await run('curl', ['-sS', '-m', '5', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', `http://127.0.0.1:${server.port}/`], 10_000);
    expect(r.stdout, r.stderr).toMatch(/^\s*\d+\n$/);
  });
});

// Node >= 22.18 strips TypeScript types itself (process.features.typescript === 'strip'); the test
// matrix runs both branches: Node 20 has no type stripping, 22, 24 and 26 do.
const stripsTypes = Boolean((process.features as { typescript?: string | false }).typescript);
const TYPED = path.join(APPS, 'typed-express.ts');

describe('TypeScript apps, as they are', () => {
  it.runIf(stripsTypes)(`Node ${process.versions.node} strips the types: a .ts Express app served by both entries`, async () => {
    for (const entry of ['webserver2.js', 'concurrent-final.js']) {
      const server = await startServer(entry, ['--port', '0', '--quiet', `${TYPED}:app`]);
      const r = await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${server.port}/hello?who=types`], 10_000);
      expect(JSON.parse(r.stdout || 'null'), `${entry}: ${r.stderr} ${server.stderr()}`).toEqual({ text: 'Hello types from TypeScript!', runtime: process.versions.node });
      server.kill();
    }
  });

  it.skipIf(stripsTypes)(`Node ${process.versions.node} cannot strip types: one line that says which Node can`, async () => {
    const r = await node('concurrent-final.js', '--port', '0', TYPED);
    expect(oneLineError(r, 1)).toMatch(/cannot load .*typed-express\.ts: .*\(Node \d+\.\d+\.\d+ does not run TypeScript; Node >= 22\.18 strips types by itself\)$/m);
  });
});

describe('a client that leaves is noticed at once, not at the next write', () => {
  it.each([
    ['node', `${APPS}/watcher.mjs:node`, /node: req aborted\n[\s\S]*node: res close, finished=false\n/],
    ['fetch', `${APPS}/watcher.mjs`, /fetch: signal aborted\n/],
  ])('%s interface: the app hears it while its response is pending', async (_kind, app, heard) => {
    for (const entry of ['webserver2.js', 'concurrent-final.js']) {
      const server = await startServer(entry, ['--port', '0', '--quiet', app]);
      const s = net.connect(server.port, '127.0.0.1', () => s.write('GET /wait HTTP/1.1\r\nHost: x\r\n\r\n'));
      await sleep(300);
      s.destroy();
      for (let i = 0; i < 40 && !heard.test(server.stderr()); i++) await sleep(50);
      expect(server.stderr(), entry).toMatch(heard);
      // and the server goes on: webserver2 (one connection at a time) is free again
      const r = await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${server.port}/`], 10_000);
      expect(r.stdout, entry).toBe('ok\n');
      server.kill();
    }
  });
});

describe('edge cases (from a review of the gateway)', () => {
  const EDGE = `${APPS}/edge.mjs`;
  const curl = (port: number, p: string, ...args: string[]) => run('curl', ['-sS', '-m', '5', ...args, `http://127.0.0.1:${port}${p}`], 10_000);

  it('webserver2 (one process) survives an asynchronous throw and an unhandled rejection in the app', async () => {
    const server = await startServer('webserver2.js', ['--port', '0', '--quiet', `${EDGE}:node`]);
    for (const p of ['/boom', '/reject']) {
      const r = await curl(server.port, p);
      expect(r.code, `${p}: the connection is closed, not left hanging`).not.toBe(28);
      expect((await curl(server.port, '/')).stdout, `served after ${p}`).toBe('ok\n');
    }
    expect(server.stderr()).toMatch(/app error: Error: an asynchronous throw in a handler/);
    expect(server.stderr()).toMatch(/app error: Error: an unhandled rejection in a handler/);
    expect(server.proc.exitCode).toBeNull();
  });

  it('res.socket is set while the listener runs, as in node:http', async () => {
    for (const entry of ['webserver2.js', 'concurrent-final.js']) {
      const server = await startServer(entry, ['--port', '0', '--quiet', `${EDGE}:node`]);
      expect((await curl(server.port, '/socket')).stdout, entry).toBe('res.socket set: true');
      server.kill();
    }
  });

  it("res.setTimeout() fires: the app's callback answers; without one the connection is closed", async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', `${EDGE}:node`]);
    const t0 = Date.now();
    const r = await curl(server.port, '/timeout', '-i');
    expect(r.stdout).toMatch(/^HTTP\/1\.1 503 /);
    expect(Date.now() - t0).toBeLessThan(3000);
    const bare = await exchange(server.port, 'GET /bare-timeout HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    expect(bare.endMs, 'closed by the timeout').not.toBeNull();
    expect(bare.endMs!).toBeLessThan(3000);
  });

  it('a fetch app that cancels the request body answers, and the rest of the body is dropped', async () => {
    for (const entry of ['webserver2.js', 'concurrent-final.js']) {
      const server = await startServer(entry, ['--port', '0', '--quiet', EDGE]);
      const s = net.connect(server.port, '127.0.0.1');
      s.write('POST /cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
      await sleep(200);
      s.write('defghij');
      const text = await new Promise<string>((resolve) => {
        let t = '';
        s.on('data', (d) => (t += d)).on('end', () => resolve(t)).on('error', () => resolve(t));
        setTimeout(() => resolve(t), 3000);
        setTimeout(() => s.end(), 500);
      });
      expect(text, entry).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*cancelled\n$/);
      expect((await curl(server.port, '/')).stdout, `${entry} serves on`).toBe('ok\n');
      server.kill();
    }
  });

  it('fetch interface: Expect: 100-continue gets its 100 before the body is sent', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', EDGE]);
    const result = await new Promise<string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/upload', headers: { Expect: '100-continue', 'Content-Length': '5' } }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d)).on('end', () => resolve(t));
      });
      req.on('continue', () => req.end('hello'));
      req.on('error', (err) => resolve(String(err)));
      setTimeout(() => resolve('no 100 Continue in 3 s'), 3000);
    });
    expect(result).toBe('5 bytes\n');
  });

  it('a flood of pipelined requests is answered in full and in order (reading pauses while answers queue)', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--keep-alive-timeout', '0.5', `${EXPRESS}:app`]);
    const n = 1000;
    let text = '';
    for (let i = 0; i < n; i++) text += `GET /query?i=${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const r = await exchange(server.port, text, 20_000);
    const order = [...r.data.toString('latin1').matchAll(/\{"query":\{"i":"(\d+)"\}\}/g)].map((m) => Number(m[1]));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('a Response from another fetch implementation (same shape) is accepted', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', `${APPS}/response-like.mjs`]);
    const r = await run('curl', ['-sS', '-i', '-m', '5', `http://127.0.0.1:${server.port}/`], 10_000);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 201 Created\r\n[\s\S]*x-like: yes\r\n[\s\S]*\r\n\r\nmade\n$/);
  });

  it('a connection that sends nothing, or stops sending its body, gets 408 after the headers timeout', async () => {
    const server = await startServer('webserver2.js', ['--port', '0', '--quiet', '--headers-timeout', '0.5', `${EXPRESS}:app`]);
    const silent = await exchange(server.port, '', 5000);
    expect(silent.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    // webserver2 is iterative: nothing else would be served while it waited
    expect((await curl(server.port, '/hello')).stdout).toBe('Hello world from Express!');
    const final = await startServer('concurrent-final.js', ['--port', '0', '--headers-timeout', '0.5', `${EXPRESS}:app`]);
    const stalled = await exchange(final.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"a"', 5000);
    expect(stalled.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    expect(stalled.endMs!).toBeLessThan(3000);
  });
});

describe('webserver2 prints the conversation, as the tutorial does', () => {
  it('request lines with "< ", response lines with "> ": the app\'s headers, then Date and Server', async () => {
    const server = await startServer('webserver2.js', ['--port', '0', `${EXPRESS}:app`]);
    const r = await run('curl', ['-sS', '-i', '-m', '5', `http://127.0.0.1:${server.port}/hello`], 10_000);
    expect(r.stdout).toMatch(/\r\n\r\nHello world from Express!$/);
    await sleep(200);
    const out = server.stdout();
    expect(out).toContain('< GET /hello HTTP/1.1\n');
    expect(out).toMatch(/< Host: 127\.0\.0\.1:\d+\n/);
    expect(out).toContain('> HTTP/1.1 200 OK\n');
    expect(out).toContain('> X-Powered-By: Express\n');
    expect(out).toContain('> Content-Type: text/plain; charset=utf-8\n');
    expect(out).toMatch(/> Date: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\n/);
    expect(out).toMatch(/> Server: forkserve\/\d+\.\d+\.\d+\n/);
    expect(out).toContain('>\n> Hello world from Express!\n');
    // --quiet: nothing but the two start-up lines
    const quiet = await startServer('webserver2.js', ['--port', '0', '--quiet', `${EXPRESS}:app`]);
    await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${quiet.port}/hello`], 10_000);
    await sleep(200);
    expect(quiet.stdout().trim().split('\n')).toHaveLength(2);
  });
});

async function onlyChild(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const kids = await childStates(pid);
    if (kids.length === 1) return kids[0].pid;
    await sleep(20);
  }
  throw new Error('no single child appeared');
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe('a hosted app fails alone (concurrent-final, a fork per connection)', () => {
  it('a malformed request gets 400 from the server, not the app; the next one is served', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', `${EXPRESS}:app`]);
    const bad = await exchange(server.port, 'GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
    expect(bad.data.toString('latin1')).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const smuggle = await exchange(server.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    expect(smuggle.data.toString('latin1')).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const good = await exchange(server.port, 'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(good.data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nHello world from Express!$/);
  });

  it("req.socket is the client's connection: remoteAddress/remotePort/remoteFamily, localPort", async () => {
    for (const entry of ['webserver2.js', 'concurrent-final.js']) {
      const server = await startServer(entry, ['--port', '0', '--quiet', `${APPS}/troubled.js`]);
      const s = net.connect(server.port, '127.0.0.1');
      await new Promise((resolve) => s.once('connect', resolve));
      const body = await new Promise<string>((resolve) => {
        let text = '';
        s.on('data', (d) => (text += d)).on('end', () => resolve(text));
        s.write('GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      const peer = JSON.parse(body.slice(body.indexOf('\r\n\r\n') + 4));
      expect(peer, entry).toEqual({ remoteAddress: '127.0.0.1', remotePort: s.localPort, remoteFamily: 'IPv4', localPort: server.port, same: true });
      server.kill();
    }
  });

  it('--warm-up runs the app in the parent before forking (only then); children answer', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--warm-up', '/whoami', `${APPS}/troubled.js`]);
    const warm = server.stderr().match(/whoami (\d+)/g) ?? [];
    expect(warm.length).toBeGreaterThanOrEqual(5);
    expect(new Set(warm)).toEqual(new Set([`whoami ${server.pid}`]));
    const r = await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${server.port}/whoami`], 10_000);
    expect(Number(r.stdout)).not.toBe(server.pid); // a child answered
    const cold = await startServer('concurrent-final.js', ['--port', '0', `${APPS}/troubled.js`]);
    expect(cold.stderr()).toBe(''); // the gateway warms itself with its own trivial app, not yours
    expect(oneLineError(await node('concurrent-final.js', '--warm-up', '/x'), 2)).toContain('--warm-up needs an app');
    expect(oneLineError(await node('concurrent-final.js', '--warm-up', 'x', EXPRESS), 2)).toContain("invalid --warm-up path 'x'");
  });

  it('timeouts: a head that does not arrive in time gets 408; an idle keep-alive connection is closed', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--headers-timeout', '0.5', '--keep-alive-timeout', '0.4', `${EXPRESS}:app`]);
    const slow = await exchange(server.port, 'GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow', 5000);
    expect(slow.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(slow.firstByteMs).toBeGreaterThanOrEqual(450);
    const idle = await exchange(server.port, 'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    expect(idle.data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: keep-alive\r\n[\s\S]*Hello world from Express!$/);
    expect(idle.endMs, 'closed by the idle timeout').not.toBeNull();
    expect(idle.endMs!).toBeGreaterThanOrEqual(350);
  });

  it('an Upgrade request is answered by the app as a normal request (its body too), then the connection closes', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', `${EXPRESS}:app`]);
    const ws = await exchange(server.port, 'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nNOT HTTP', 5000);
    expect(ws.data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n[\s\S]*Hello world from Express!$/);
    expect(ws.endMs).not.toBeNull();
    const s = net.connect(server.port, '127.0.0.1');
    s.write('POST /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n');
    await sleep(100);
    s.write('{"a":1}'); // the body arrives after the head
    const text = await new Promise<string>((resolve) => {
      let t = '';
      s.on('data', (d) => (t += d)).on('end', () => resolve(t));
      setTimeout(() => resolve(`no end in 5 s; got: ${t}`), 5000);
    });
    s.destroy();
    expect(text).toMatch(/\r\n\r\n\{"received":\{"a":1\}\}$/);
  });

  it('pipelined requests are answered in order on one connection (node and fetch interfaces)', async () => {
    for (const app of [`${EXPRESS}:app`, path.join(ROOT, 'examples', 'hono', 'app.mjs')]) {
      const server = await startServer('concurrent-final.js', ['--port', '0', '--keep-alive-timeout', '0.3', app]);
      const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
      const r = await exchange(server.port, req('/stream') + req('/hello') + req('/query?n=1'));
      const text = r.data.toString('latin1');
      expect(text.match(/HTTP\/1\.1 200 OK/g), app).toHaveLength(3);
      const order = ['chunk 4', 'Hello world from', '{"query":{"n":"1"}}'].map((s) => text.indexOf(s));
      expect(order.every((at, i) => at > 0 && (i === 0 || at > order[i - 1])), `${app}: ${text}`).toBe(true);
    }
  });

  it('a handler that crashes or aborts ends only its child; the server logs it and serves on', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', `${APPS}/troubled.js`]);
    const crash = await exchange(server.port, 'GET /crash HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(crash.data.length, 'no response from a crashed child').toBe(0);
    expect(crash.endMs, 'the connection is closed, not left hanging').not.toBeNull();
    const abort = await exchange(server.port, 'GET /abort HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(abort.endMs).not.toBeNull();
    const ok = await exchange(server.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(ok.data.toString('latin1')).toMatch(/\r\n\r\nok\n$/);
    for (let i = 0; i < 100 && !/SIGABRT/.test(server.stderr()); i++) await sleep(50);
    expect(server.stderr()).toContain('an asynchronous crash in a handler');
    expect(server.stderr()).toMatch(/Child \d+ exited with code 1/);
    expect(server.stderr()).toMatch(/Child \d+ was killed by SIGABRT/);
    // The last child (the `ok` answer) may be exiting right now: reaped within moments, not left a zombie.
    expect(await eventually(() => childStates(server.pid), (c) => c.length === 0), 'no zombies').toEqual([]);
  });

  it.each([
    ['node', `${APPS}/troubled.js`],
    ['fetch', `${APPS}/big-fetch.mjs`],
  ])('backpressure (%s interface): a 64 MiB response to a client that does not read stays out of memory', async (_kind, app) => {
    const server = await startServer('concurrent-final.js', ['--port', '0', app]);
    const s = net.connect(server.port, '127.0.0.1');
    s.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    s.pause(); // read nothing
    const child = await onlyChild(server.pid);
    await sleep(300);
    const before = rssKb(child);
    await sleep(1200);
    const after = rssKb(child);
    // Without backpressure the whole 64 MiB would be produced and queued within this second.
    expect(after - before, `child RSS ${before} -> ${after} kB`).toBeLessThan(16 * 1024);
    // Then read it all: every byte arrives.
    let got = 0;
    const done = new Promise<void>((resolve) => s.on('end', resolve).on('close', resolve));
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= 64 * 1024 * 1024) s.end();
    });
    s.resume();
    await done;
    expect(got).toBeGreaterThanOrEqual(64 * 1024 * 1024);
  });

  it('backpressure on the request body: an app that does not read it stops the upload in the kernel', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--max-body', String(128 * 1024 * 1024), `${APPS}/troubled.js`]);
    const s = net.connect(server.port, '127.0.0.1');
    const total = 64 * 1024 * 1024;
    s.write(`POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(1024 * 1024, 'y');
    let queued = 0;
    const pump = (): void => {
      while (queued < total && s.write(chunk)) queued += chunk.length;
    };
    s.on('drain', () => {
      queued += chunk.length;
      pump();
    });
    pump();
    const child = await onlyChild(server.pid);
    await sleep(300);
    const before = rssKb(child);
    await sleep(900);
    const after = rssKb(child);
    expect(after - before, `child RSS ${before} -> ${after} kB`).toBeLessThan(16 * 1024);
    expect(s.bytesWritten, 'the client could not push the whole body').toBeLessThan(total / 2);
    s.destroy();
  });
});
