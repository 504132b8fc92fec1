// forkserve, the pre-fork server, as real processes: frameworks served by 2 workers, the master's
// signals (TERM, INT twice, Ctrl-C to the group, HUP, TTIN/TTOU), a killed worker replaced, a dead
// master's workers gone, and the halt when workers keep dying at boot. Servers run in their own
// process group; load comes from ab (bounded counts).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, childStates, killAll, run, sleep, startServer, until, type Server } from '../helpers/procs';

afterEach(killAll);

const PID_APP = `${path.join(FIXTURES, 'apps', 'pid.js')}:app`;
const SLOW_BIG = `${path.join(FIXTURES, 'apps', 'slow-big.js')}:app`;

async function get(port: number, urlPath: string, extra: string[] = []): Promise<{ status: string; body: string }> {
  const r = await run('curl', ['-sS', '--max-time', '20', '-o', '-', '-w', '\n%{http_code}', ...extra, `http://127.0.0.1:${port}${urlPath}`], 30_000);
  const at = r.stdout.lastIndexOf('\n');
  return { body: r.stdout.slice(0, at), status: r.stdout.slice(at + 1) + r.stderr };
}

/** Sends GET / on a keep-alive connection (it stays with its worker) and resolves the pid the app answers. */
function workerPidOver(socket: net.Socket): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let got = '';
    socket.setEncoding('latin1').on('data', (d: string) => {
      got += d;
      const m = /\r\n\r\n\s*(\d+)\n/.exec(got);
      if (m) resolve(m[1]);
    });
    socket.on('error', reject);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

function bootedPids(server: Server): number[] {
  return [...server.stdout().matchAll(/^Booting worker with pid (\d+)$/gm)].map((m) => Number(m[1]));
}

async function workers(server: Server): Promise<number[]> {
  return (await childStates(server.pid)).filter((c) => !c.stat.startsWith('Z')).map((c) => c.pid).sort();
}

/** True when none of `pids` exists any more (ps -p lists none). */
async function gone(pids: number[]): Promise<boolean> {
  return (await run('ps', ['-o', 'pid=', '-p', pids.join(',')])).stdout.trim() === '';
}

async function start(app: string, extra: string[] = []): Promise<Server> {
  const server = await startServer('forkserve.js', ['-w', '2', '--port', '0', ...extra, app], { group: true });
  await until(() => bootedPids(server).length, (n) => n === 2, 'two "Booting worker" lines');
  return server;
}

async function ab(port: number, urlPath: string, n: number, c: number, keepAlive: boolean): Promise<string> {
  const r = await run('ab', ['-q', ...(keepAlive ? ['-k'] : []), '-n', String(n), '-c', String(c), `http://127.0.0.1:${port}${urlPath}`], 120_000);
  expect(r.stdout, r.stdout + r.stderr).toMatch(new RegExp(`Complete requests:\\s+${n}\\n`));
  expect(r.stdout, r.stdout).toMatch(/Failed requests:\s+0\n/);
  expect(r.stdout, r.stdout).not.toMatch(/Non-2xx/);
  return r.stdout;
}

describe('forkserve serves every framework with 2 workers', () => {
  const FRAMEWORKS: [string, string, string][] = [
    ['Express', 'express/app.js:app', 'Hello world from Express!'],
    ['Koa', 'koa/app.js:app', 'Hello world from Koa!'],
    ['Fastify', 'fastify/app.js:app', 'Hello world from Fastify!'],
    ['Hono', 'hono/app.mjs', 'Hello world from Hono!'],
    ['a fetch handler', 'fetch/app.mjs', 'Hello world from a fetch handler!'],
  ];
  for (const [name, app, body] of FRAMEWORKS) {
    it(`${name}: two workers boot, GET /hello answers, ab with and without keep-alive has 0 failures`, async () => {
      const server = await start(path.join(ROOT, 'examples', app));
      expect(server.stdout()).toMatch(/^Serving HTTP on port \d+ \.\.\.\n/);
      expect(await workers(server)).toEqual(bootedPids(server).sort());
      expect(await get(server.port, '/hello')).toEqual({ status: '200', body });
      await ab(server.port, '/hello', 300, 10, true);
      await ab(server.port, '/hello', 200, 10, false);
      server.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(server.stderr()).toBe('');
    }, 120_000);
  }
});

describe('forkserve lifecycle', () => {
  it('both workers take connections', async () => {
    const server = await start(PID_APP);
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const pid = (await get(server.port, '/')).body.trim();
      seen.set(pid, (seen.get(pid) ?? 0) + 1);
    }
    const booted = bootedPids(server).map(String).sort();
    expect([...seen.keys()].every((pid) => booted.includes(pid)), JSON.stringify([...seen])).toBe(true);
    // Sequential connections: whichever worker's accept() wins. Both must get some.
    expect(seen.size, `connections per worker: ${JSON.stringify([...seen])}`).toBe(2);
  }, 60_000);

  it('20 keep-alive connections opened at once are shared between the workers (none gets them all)', async () => {
    const server = await start(PID_APP);
    // "Booting worker" is printed at the fork, before the worker accepts: on a loaded machine the
    // second worker was still starting at the first burst (a CI run: [["8912",20]]), and a worker
    // that does not accept yet is rightly not waited for. Three connections held at once reach both
    // workers once both accept (the balance leaves the third to the idle one).
    await until(
      async () => {
        const held = Array.from({ length: 3 }, () => net.connect(server.port, '127.0.0.1'));
        try {
          return new Set(await Promise.all(held.map(workerPidOver))).size;
        } finally {
          for (const s of held) s.destroy();
        }
      },
      (n) => n === 2,
      'both workers accepting',
      30_000,
    );
    for (let burst = 0; burst < 5; burst++) {
      const sockets = Array.from({ length: 20 }, () => net.connect(server.port, '127.0.0.1'));
      const pids = await Promise.all(sockets.map(workerPidOver));
      for (const s of sockets) s.destroy();
      const counts = new Map<string, number>();
      for (const pid of pids) counts.set(pid, (counts.get(pid) ?? 0) + 1);
      expect(Math.max(...counts.values()), `burst ${burst}: connections per worker ${JSON.stringify([...counts])}`).toBeLessThanOrEqual(16);
      await sleep(200);
    }
  }, 90_000);

  it('a worker that crashes in a request is logged with that request, and replaced', async () => {
    const server = await start(PID_APP);
    const crashed = await get(server.port, '/crash?id=7');
    expect(crashed.status).not.toBe('200');
    const err = await until(() => server.stderr(), (e) => /Worker \d+ exited with code 1/.test(e), 'the crash line');
    expect(err).toMatch(/^Worker \d+ exited with code 1, serving GET \/crash\?id=7 \(for [\d.]+ s\)$/m);
    await until(() => workers(server), (w) => w.length === 2, 'a replacement');
  }, 60_000);

  it('a worker killed with SIGKILL is logged and replaced', async () => {
    const server = await start(PID_APP);
    const [victim] = await workers(server);
    process.kill(victim, 'SIGKILL');
    const now = await until(() => workers(server), (w) => w.length === 2 && !w.includes(victim), 'a replacement');
    // ps can list the new worker before the master has written its "Booting worker" line.
    await until(() => bootedPids(server).length, (n) => n >= 3, 'the replacement\'s "Booting worker" line');
    expect(server.stderr()).toContain(`Worker ${victim} was killed by SIGKILL`);
    expect(bootedPids(server)).toHaveLength(3);
    expect(now.every((pid) => bootedPids(server).includes(pid))).toBe(true);
    expect((await get(server.port, '/')).status).toBe('200');
  }, 60_000);

  it('TTIN adds a worker, TTOU retires the oldest', async () => {
    const server = await start(PID_APP);
    const first = await workers(server);
    process.kill(server.pid, 'SIGTTIN');
    const three = await until(() => workers(server), (w) => w.length === 3, 'three workers');
    // Two TTOU sent at once may arrive as one (signals coalesce): one at a time.
    process.kill(server.pid, 'SIGTTOU');
    await until(() => workers(server), (w) => w.length === 2, 'two workers');
    process.kill(server.pid, 'SIGTTOU');
    const one = await until(() => workers(server), (w) => w.length === 1, 'one worker');
    expect(three.filter((p) => !first.includes(p))).toEqual(one);
    expect(server.stderr()).toBe('');
  }, 60_000);

  it('TERM under load: every accepted request is answered, in-flight responses finish, exit 0', async () => {
    const server = await start(SLOW_BIG);
    const load = run('ab', ['-q', '-k', '-n', '3000', '-c', '10', `http://127.0.0.1:${server.port}/`], 120_000);
    const big = get(server.port, '/big');
    await sleep(300);
    server.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit, server.stdout() + server.stderr()).toEqual({ code: 0, signal: null });
    const b = await big;
    expect(b.status).toBe('200');
    expect(b.body.length, 'the 512 KB response in flight finished').toBe(512 * 1024);
    // ab stops at the first refused connection once the listener is gone; what it sent before was answered.
    const r = await load;
    expect(r.stdout + r.stderr).not.toMatch(/Failed requests:\s+[1-9]/);
    expect(r.stdout + r.stderr).not.toMatch(/Non-2xx/);
  }, 120_000);

  it('TERM with idle keep-alive connections: workers close them at once and the master exits quickly', async () => {
    const server = await start(PID_APP, ['--keep-alive', '60']);
    const idle = run('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${server.port}/`, `http://127.0.0.1:${server.port}/`], 40_000);
    await sleep(500);
    const t0 = Date.now();
    server.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - t0, 'not the 60 s keep-alive').toBeLessThan(5000);
    expect((await idle).code).toBe(0);
  }, 60_000);

  it('a second INT does not wait for a worker stuck in a handler', async () => {
    const server = await start(PID_APP, ['--graceful-timeout', '60']);
    const stuck = get(server.port, '/block');
    await sleep(500);
    process.kill(server.pid, 'SIGINT');
    await until(() => server.stdout(), (o) => o.includes('Shutting down now'), 'the first INT');
    await sleep(300);
    const t0 = Date.now();
    process.kill(server.pid, 'SIGINT');
    const exit = await server.exited;
    expect(exit.code, server.stdout() + server.stderr()).toBe(0);
    expect(Date.now() - t0, 'not the 60 s graceful timeout, nor the 20 s handler').toBeLessThan(5000);
    expect(server.stderr()).toMatch(/Worker \d+ was killed by SIGKILL/);
    await stuck;
  }, 60_000);

  it('INT is quick; Ctrl-C to the whole group is an orderly stop', async () => {
    const server = await start(PID_APP);
    const pids = await workers(server);
    const slow = get(server.port, '/slow');
    await sleep(300);
    process.kill(-server.pid, 'SIGINT'); // a terminal's Ctrl-C: master and workers alike
    const exit = await server.exited;
    expect(exit, server.stdout() + server.stderr()).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toMatch(/Shutting down now \(2 workers\)/);
    expect(server.stderr(), 'workers quit when the master said so, not from the SIGINT').not.toMatch(/SIGINT/);
    expect((await slow).status).not.toBe('200');
    expect(await gone(pids), 'the workers exited with the master (reaped, not orphaned)').toBe(true);
  }, 60_000);

  it('HUP under load replaces every worker with 0 failed requests', async () => {
    const server = await start(PID_APP);
    const before = await workers(server);
    const load = ab(server.port, '/', 4000, 10, false);
    await sleep(500);
    process.kill(server.pid, 'SIGHUP');
    await load;
    const after = await until(() => workers(server), (w) => w.length === 2 && w.every((p) => !before.includes(p)), 'two new workers');
    expect(after.every((p) => !before.includes(p))).toBe(true);
    expect(server.stdout()).toContain('Hang up: replacing 2 workers');
    expect(server.stderr()).toBe('');
  }, 120_000);

  it('a handler that blocks the event loop: the worker is killed after --timeout, the log names the request, a new one serves', async () => {
    const server = await start(PID_APP, ['--timeout', '2']);
    const before = await workers(server);
    const stuck = get(server.port, '/block?who=test');
    const line = await until(() => server.stderr(), (e) => /timed out/.test(e), 'the timeout line', 20_000);
    expect(line).toMatch(/^Worker (\d+) timed out: its event loop has not run for [\d.]+ s \(--timeout 2\), in GET \/block\?who=test for [\d.]+ s; killing it\n/m);
    const victim = Number(/^Worker (\d+) timed out/m.exec(line)![1]);
    expect(before).toContain(victim);
    const now = await until(() => workers(server), (w) => w.length === 2 && !w.includes(victim), 'a replacement');
    expect(now).not.toContain(victim);
    await stuck; // its connection was cut with the worker
    expect((await get(server.port, '/')).status).toBe('200');
    // The other worker, idle all along, ticked and was left alone.
    expect(server.stderr().match(/timed out/g)).toHaveLength(1);
  }, 60_000);

  it('--max-requests with jitter recycles workers under load with 0 failed requests', async () => {
    const server = await start(PID_APP, ['--max-requests', '100', '--max-requests-jitter', '20']);
    await ab(server.port, '/', 1000, 10, false);
    const restarts = server.stdout().match(/served its \d+ requests \(--max-requests\): restarting/g) ?? [];
    expect(restarts.length, server.stdout()).toBeGreaterThanOrEqual(5);
    for (const n of server.stdout().matchAll(/served its (\d+) requests/g)) expect(Number(n[1])).toBeGreaterThanOrEqual(100), expect(Number(n[1])).toBeLessThanOrEqual(120);
    await until(() => workers(server), (w) => w.length === 2, 'two workers');
    expect(bootedPids(server).length).toBeGreaterThanOrEqual(2 + restarts.length - 1);
    expect(server.stderr()).toBe('');
  }, 120_000);

  it('HUP twice under keep-alive load (wrk, 20 connections): no socket error, every response 200', async () => {
    const server = await start(PID_APP);
    const before = await workers(server);
    const load = run('wrk', ['-t1', '-c20', '-d6s', `http://127.0.0.1:${server.port}/`], 60_000);
    await sleep(1500);
    process.kill(server.pid, 'SIGHUP');
    await until(() => workers(server), (w) => w.length === 2 && w.every((p) => !before.includes(p)), 'two new workers');
    await sleep(1000);
    process.kill(server.pid, 'SIGHUP');
    const r = await load;
    // A connection closed while its next request was on the way shows as a read error.
    expect(r.stdout, r.stdout + r.stderr).toMatch(/\d+ requests in /);
    expect(r.stdout, r.stdout).not.toMatch(/Socket errors/);
    expect(r.stdout, r.stdout).not.toMatch(/Non-2xx/);
    expect(server.stderr()).toBe('');
  }, 120_000);

  it.runIf(process.platform === 'linux')('50 HUPs: the master ends with its own descriptors and two workers, no zombie', async () => {
    const server = await start(PID_APP);
    const fds = (): number => fs.readdirSync(`/proc/${server.pid}/fd`).length;
    const before = fds();
    for (let i = 0; i < 50; i++) {
      const old = await workers(server);
      process.kill(server.pid, 'SIGHUP');
      await until(() => workers(server), (w) => w.length === 2 && w.every((p) => !old.includes(p)), `two new workers after HUP ${i + 1}`);
    }
    const kids = await until(() => childStates(server.pid), (c) => c.length === 2, 'exactly two children');
    expect(kids.filter((k) => k.stat.startsWith('Z'))).toEqual([]);
    expect(bootedPids(server)).toHaveLength(2 + 100);
    expect(fds(), 'the master holds no descriptor per HUP').toBe(before);
    expect((await get(server.port, '/')).status).toBe('200');
    expect(server.stderr()).toBe('');
  }, 180_000);

  it('QUIT stops at once like INT', async () => {
    const server = await start(PID_APP);
    const pids = await workers(server);
    process.kill(server.pid, 'SIGQUIT');
    expect((await server.exited).code).toBe(0);
    expect(server.stdout()).toMatch(/Shutting down now \(2 workers\)/);
    expect(await gone(pids)).toBe(true);
  }, 60_000);

  it('workers exit within a few seconds when the master is killed', async () => {
    const server = await start(PID_APP);
    const pids = await workers(server);
    process.kill(server.pid, 'SIGKILL');
    await until(() => gone(pids), Boolean, 'the orphaned workers to exit', 5000);
  }, 60_000);

  it('a request that crashes its worker every time (an Express webhook, 30 bad POSTs between 30 GETs) leaves the server up: each crash logged with its request, every GET answered', async () => {
    const server = await start(`${path.join(FIXTURES, 'apps', 'webhook.js')}:app`);
    const statuses: string[] = [];
    for (let i = 0; i < 30; i++) {
      await get(server.port, '/webhook', ['-X', 'POST', '-H', 'content-type: application/json', '--data', '{bad json']);
      const r = await get(server.port, '/');
      statuses.push(r.status);
      expect(r.body, `GET ${i}: ${r.status} | ${server.stderr().slice(-2000)}`).toMatch(/^ok \d+$/);
    }
    const crashes = [...server.stderr().matchAll(/^Worker \d+ exited with code 1, serving POST \/webhook/gm)].length;
    expect(crashes, server.stderr().slice(-3000)).toBeGreaterThanOrEqual(30);
    expect(server.stderr()).not.toMatch(/died at boot|stopping/);
    expect(await Promise.race([server.exited.then(() => 'exited'), sleep(100).then(() => 'up')])).toBe('up');
  }, 120_000);

  it('kill -9 of a worker every 0.25 s, 16 times, is not a boot failure: the master replaces each and serves on', async () => {
    const server = await start(PID_APP);
    for (let i = 0; i < 16; i++) {
      const pids = await workers(server);
      if (pids.length > 0) process.kill(pids[i % pids.length], 'SIGKILL');
      await sleep(250);
    }
    expect(await Promise.race([server.exited.then(() => 'exited'), sleep(100).then(() => 'up')]), server.stderr()).toBe('up');
    expect((await get(server.port, '/')).status).toBe('200');
    expect(server.stderr()).not.toMatch(/died at boot/);
  }, 60_000);

  it('20 clients that do not read an 8 MB response: the worker sends from the app\'s buffer (no copy each), and cuts them at --send-timeout', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--send-timeout', '2', `${path.join(FIXTURES, 'apps', 'big-shared.js')}:app`], { group: true });
    const [worker] = await until(() => workers(server), (p) => p.length === 1, 'the worker');
    const rssMb = (): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${worker}/status`, 'utf8'))![1]) / 1024;
    const warm = await get(server.port, '/', ['-o', '/dev/null']); // the first response's own allocations
    expect(warm.status).toBe('200');
    const before = rssMb();
    const clients = await Promise.all(
      Array.from({ length: 20 }, () =>
        new Promise<{ socket: net.Socket; got: () => number; ended: Promise<void> }>((resolve, reject) => {
          const socket = net.connect(server.port, '127.0.0.1');
          let got = 0;
          const ended = new Promise<void>((done) => socket.on('close', () => done()));
          socket.on('error', () => {});
          socket.on('data', (d: Buffer) => (got += d.length));
          socket.once('connect', () => {
            socket.pause(); // reads nothing until told
            socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
            resolve({ socket, got: () => got, ended });
          });
          socket.once('error', reject);
        }),
      ),
    );
    await sleep(1000); // every response written as far as the kernel takes it
    const grown = rssMb() - before;
    await sleep(3000); // past the 2 s send timeout
    for (const c of clients) c.socket.resume();
    const ended = await Promise.race([Promise.all(clients.map((c) => c.ended)).then(() => true), sleep(20_000).then(() => false)]);
    const got = clients.map((c) => c.got());
    const seen = `RSS grew ${grown.toFixed(1)} MB with 20 responses pending; bytes each client got: ${got.join(', ')}`;
    expect(grown, seen).toBeLessThan(40); // a copy each was 20 x 8 MB
    expect(ended, `every connection cut | ${seen}`).toBe(true);
    for (const n of got) expect(n, seen).toBeLessThan(8 * 1024 * 1024);
    expect((await get(server.port, '/', ['-o', '/dev/null'])).status, 'the worker serves on').toBe('200');
  }, 60_000);

  it('--request-timeout: a body sent a byte at a time (each within --headers-timeout) gets 408 once the whole request has taken too long', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--request-timeout', '2', '--headers-timeout', '10', `${path.join(FIXTURES, 'apps', 'echo.js')}:app`], { group: true });
    const socket = net.connect(server.port, '127.0.0.1');
    let got = '';
    socket.setEncoding('latin1').on('data', (d: string) => (got += d));
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n');
    const started = Date.now();
    for (let i = 0; i < 40 && got === ''; i++) {
      socket.write('x');
      await sleep(250);
    }
    socket.destroy();
    expect(got, `after ${Date.now() - started} ms`).toMatch(/^HTTP\/1\.1 408 /);
  }, 60_000);

  it('a request begun in the bytes that ended the one before is timed too: 408 at --headers-timeout, the connection closed', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--headers-timeout', '1', PID_APP], { group: true });
    const socket = net.connect(server.port, '127.0.0.1');
    let got = '';
    socket.setEncoding('latin1').on('data', (d: string) => (got += d));
    socket.on('error', () => {});
    const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHo'); // then nothing
    const ended = await Promise.race([closed, sleep(15_000).then(() => false)]);
    socket.destroy();
    expect(ended, `the connection was left open: ${JSON.stringify(got)}`).toBe(true);
    expect(got).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 408 /);
  }, 60_000);

  it('--worker-connections 2: a third connection waits in the backlog until one of the two closes, then is served', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--worker-connections', '2', `${path.join(FIXTURES, 'apps', 'hold.js')}:app`], { group: true });
    await until(() => bootedPids(server).length, (n) => n === 1, 'the worker');
    const held = await Promise.all([0, 1].map(() => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(server.port, '127.0.0.1', () => {
        s.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
        resolve(s);
      });
      s.on('error', reject);
    })));
    await sleep(500);
    let answered = '';
    const third = run('curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${server.port}/`], 30_000).then((r) => (answered = r.stdout + r.stderr));
    await sleep(1500);
    expect(answered, 'not served while the worker holds 2 connections').toBe('');
    held[0].destroy();
    await third;
    expect(answered).toMatch(/^\d+\n$/);
    held[1].destroy();
  }, 60_000);

  it('a worker whose master is killed while it holds a hung request leaves at --graceful-timeout, saying so', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--graceful-timeout', '2', `${path.join(FIXTURES, 'apps', 'hold.js')}:app`], { group: true });
    const [worker] = await until(() => workers(server), (p) => p.length === 1, 'the worker');
    const held = net.connect(server.port, '127.0.0.1', () => held.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n'));
    held.on('error', () => {});
    await sleep(500);
    process.kill(server.pid, 'SIGKILL');
    const left = await until(() => gone([worker]), Boolean, 'the orphaned worker to leave', 15_000).catch(() => false);
    held.destroy();
    expect(left, `worker ${worker} still running 15 s after its master was killed | ${server.stderr()}`).toBe(true);
    expect(server.stderr()).toMatch(new RegExp(`Worker ${worker}: 1 connection still open after the graceful timeout \\(2 s\\): leaving`));
  }, 60_000);

  it('workers that keep dying right after the fork stop the master with exit code 3', async () => {
    const server = await startServer('forkserve.js', ['-w', '2', '--port', '0', path.join(FIXTURES, 'apps', 'dies-after-fork.js')], { group: true });
    const exit = await server.exited;
    expect(exit.code, server.stdout() + server.stderr()).toBe(3);
    expect(server.stderr()).toMatch(/workers in a row died at boot, before serving a request: stopping/);
  }, 60_000);
});

describe('forkserve settings', () => {
  const CONFIGS = path.join(FIXTURES, 'configs');

  it('-b twice: two listeners, each served by the workers', async () => {
    const server = await startServer('forkserve.js', ['-w', '2', '-b', '127.0.0.1:0', '-b', '127.0.0.1:0', PID_APP], { group: true });
    const ports = await until(() => [...server.stdout().matchAll(/^Listening at: http:\/\/127\.0\.0\.1:(\d+)$/gm)].map((m) => Number(m[1])), (p) => p.length === 2, 'two Listening lines');
    expect(ports[0]).toBe(server.port);
    expect(ports[1]).not.toBe(ports[0]);
    for (const port of ports) expect((await get(port, '/')).status).toBe('200');
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 60_000);

  it('--config: settings and every hook run where they belong; the command line wins over the file', async () => {
    const server = await startServer('forkserve.js', ['--port', '0', '-c', path.join(CONFIGS, 'hooks.config.js'), PID_APP], { group: true });
    const booted = await until(() => bootedPids(server), (p) => p.length === 3, 'three workers (workers: 3 in the file)');
    const err = await until(() => server.stderr(), (e) => (e.match(/^postFork /gm) ?? []).length === 3, 'three postFork lines');
    expect(err).toContain(`onStarting in ${server.pid}: 3 workers on port ${server.port}`);
    expect(err.match(new RegExp(`^preFork slot \\d+ in ${server.pid}$`, 'gm'))).toHaveLength(3);
    for (const pid of booted) expect(err).toMatch(new RegExp(`^postFork ${pid} slot \\d+ in ${pid}$`, 'm'));
    process.kill(booted[0], 'SIGKILL');
    await until(() => server.stderr(), (e) => e.includes(`workerExit ${booted[0]} code null signal SIGKILL in ${server.pid}`), 'the workerExit line');
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.stderr()).toContain(`onExit in ${server.pid}`);

    const two = await startServer('forkserve.js', ['-w', '2', '--port', '0', '-c', path.join(CONFIGS, 'hooks.config.js'), PID_APP], { group: true });
    await until(() => bootedPids(two), (p) => p.length === 2, 'two workers');
    await sleep(300);
    expect(bootedPids(two)).toHaveLength(2);
  }, 60_000);

  it('a mistake in the config file is one line and exit 1', async () => {
    const r = await run(process.execPath, [path.join(ROOT, 'dist', 'forkserve.js'), '--port', '0', '-c', path.join(CONFIGS, 'bad-setting.config.js'), PID_APP]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^node \S+forkserve\.js: --config \S+bad-setting\.config\.js: unknown setting 'workerz' \(settings: workers, bind, /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a postFork hook that fails in every worker stops the master with exit code 3', async () => {
    const server = await startServer('forkserve.js', ['-w', '2', '--port', '0', '-c', path.join(CONFIGS, 'failing-post-fork.config.js'), PID_APP], { group: true });
    const exit = await server.exited;
    expect(exit.code, server.stderr()).toBe(3);
    expect(server.stderr()).toMatch(/Worker \d+: postFork failed: cannot reach the database/);
    expect(server.stderr()).toMatch(/workers in a row died at boot, before serving a request: stopping/);
  }, 60_000);
});

