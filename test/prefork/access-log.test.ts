// forkserve --access-log as real processes: the default (combined) line for a curl request, field by
// field; a custom format; 2000 requests from ab through 2 workers into one file, every line whole;
// SIGUSR1 after a rename (logrotate) with the inspector kept out of it; '-' to stdout shared with the
// master; 404s from both interfaces and the errors the connection answers itself (400, 408, 413).
// Servers run in their own process group; load comes from ab (bounded counts).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unreadPipe } from '../helpers/fifo';
import { freePort } from '../helpers/net';
import { FIXTURES, ROOT, childStates, killAll, run, startServer, until, type Server } from '../helpers/procs';

afterEach(killAll);

const PID_APP = `${path.join(FIXTURES, 'apps', 'pid.js')}:app`;
const EXPRESS = path.join(ROOT, 'examples', 'express', 'app.js');
const HONO = path.join(ROOT, 'examples', 'hono', 'app.mjs');

/** gunicorn's default format, field by field. */
const DEFAULT_LINE_RE =
  /^(\S+) (-) (\S+) \[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}|-) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-access-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function bootedPids(server: Server): number[] {
  return [...server.stdout().matchAll(/^Booting worker with pid (\d+)$/gm)].map((m) => Number(m[1]));
}

async function start(app: string, extra: string[] = [], workers = 2): Promise<Server> {
  const server = await startServer('forkserve.js', ['-w', String(workers), '--port', '0', ...extra, app], { group: true });
  await until(() => bootedPids(server).length, (n) => n === workers, `${workers} "Booting worker" lines`);
  return server;
}

async function curl(port: number, urlPath: string, extra: string[] = []): Promise<{ status: string; size: number; body: string }> {
  const r = await run('curl', ['-sS', '--max-time', '20', '-o', '-', '-w', '\n%{http_code} %{size_download}', ...extra, `http://127.0.0.1:${port}${urlPath}`], 30_000);
  const at = r.stdout.lastIndexOf('\n');
  const [status, size] = r.stdout.slice(at + 1).split(' ');
  return { status: status + r.stderr, size: Number(size), body: r.stdout.slice(0, at) };
}

function lines(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

/** Waits for `n` lines in `file`; fails with how many there were and the tail. */
async function waitLines(file: string, n: number, timeoutMs = 20_000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  let got = lines(file);
  while (got.length < n && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    got = lines(file);
  }
  expect(got.length, `${file}: ${got.length} lines, expected ${n}; tail:\n${got.slice(-5).join('\n')}`).toBe(n);
  return got;
}

/** Raw bytes to the server; resolves with everything it answered once it closes (bounded). */
function rawRequest(port: number, bytes: string, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    s.setEncoding('latin1').on('data', (d: string) => (got += d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    if (bytes) s.write(bytes);
  });
}

function bodyOf(response: string): string {
  return response.slice(response.indexOf('\r\n\r\n') + 4);
}

describe('forkserve --access-log', () => {
  it('the default format: a curl request with a Referer and a User-Agent, field by field; Basic auth gives %(u)s', async () => {
    const file = path.join(dir, 'access.log');
    const server = await start(EXPRESS, ['--access-log', file]);
    const before = Date.now();
    const r = await curl(server.port, '/hello?x=1', ['-e', 'http://example.com/from', '-A', 'test-agent/1.0 "quoted"']);
    expect(r.status).toBe('200');
    const auth = await curl(server.port, '/hello', ['-u', 'alice:secret']);
    const [line, authLine] = await waitLines(file, 2);
    const m = DEFAULT_LINE_RE.exec(line);
    expect(m, line).not.toBeNull();
    const [, h, l, u, day, mon, year, hh, mi, ss, zone, request, status, bytes, referer, agent] = m!;
    expect(h).toBe('127.0.0.1');
    expect([l, u]).toEqual(['-', '-']);
    expect(request).toBe('GET /hello?x=1 HTTP/1.1');
    expect(status).toBe('200');
    expect(Number(bytes)).toBe(r.size);
    expect(Number(bytes)).toBe(Buffer.byteLength(r.body));
    expect(referer).toBe('http://example.com/from');
    expect(agent).toBe('test-agent/1.0 \\"quoted\\"');
    // The time is local with its offset (gunicorn's strftime): within a minute of the request.
    const sign = zone[0] === '-' ? -1 : 1;
    const offsetMin = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3)));
    const at = Date.UTC(Number(year), MONTHS.indexOf(mon), Number(day), Number(hh), Number(mi), Number(ss)) - offsetMin * 60_000;
    expect(MONTHS).toContain(mon);
    expect(Math.abs(at - before), `${line} vs ${new Date(before).toISOString()}`).toBeLessThan(60_000);
    expect(DEFAULT_LINE_RE.exec(authLine)?.[3], authLine).toBe('alice');
    expect(auth.status).toBe('200');
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.stderr()).toBe('');
  }, 60_000);

  it('a custom format: %(p)s is a booted worker, %(D)s, %(m)s %(U)s %(q)s, request and response headers, unknown atoms', async () => {
    const file = path.join(dir, 'access.log');
    const fmt = '%(p)s %(D)s %(M)s %(L)s %(T)s %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s [%({x-custom}i)s] [%({Content-Type}o)s] %(nope)s %%';
    const server = await start(EXPRESS, ['--access-log', file, '--access-log-format', fmt]);
    const r = await curl(server.port, '/hello?a=1&b=two', ['-H', 'X-Custom: some value']);
    const [line] = await waitLines(file, 1);
    const m = /^<(\d+)> (\d+) (\d+) (\d+\.\d{6}) (\d+) GET \/hello a=1&b=two HTTP\/1\.1 200 (\d+) \[some value\] \[text\/plain; charset=utf-8\] - %$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(bootedPids(server)).toContain(Number(m![1]));
    const micros = Number(m![2]);
    expect(micros).toBeGreaterThan(0);
    expect(Number(m![3])).toBe(Math.floor(micros / 1000));
    expect(Math.abs(Number(m![4]) * 1e6 - micros)).toBeLessThanOrEqual(1);
    expect(Number(m![5])).toBe(Math.floor(micros / 1e6));
    expect(Number(m![6])).toBe(r.size);
  }, 60_000);

  it('settings in a --config file: accessLog and accessLogFormat', async () => {
    const file = path.join(dir, 'from-config.log');
    const config = path.join(dir, 'forkserve.config.js');
    fs.writeFileSync(config, `module.exports = { accessLog: ${JSON.stringify(file)}, accessLogFormat: 'cfg %(s)s %(U)s' };\n`);
    const server = await start(PID_APP, ['-c', config]);
    expect((await curl(server.port, '/from-config')).status).toBe('200');
    expect(await waitLines(file, 1)).toEqual(['cfg 200 /from-config']);
  }, 60_000);

  it('a file that cannot be opened, and a format Python would refuse, stop at start-up in one line', async () => {
    const bad = await run(process.execPath, [path.join(ROOT, 'dist', 'forkserve.js'), '--port', '0', '--access-log', path.join(dir, 'no', 'such', 'dir.log'), PID_APP]);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toMatch(/--access-log \S+dir\.log: ENOENT/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const fmt = await run(process.execPath, [path.join(ROOT, 'dist', 'forkserve.js'), '--port', '0', '--access-log', '-', '--access-log-format', '%(h)s %h', PID_APP]);
    expect(fmt.code, fmt.stderr).toBe(1);
    expect(fmt.stderr).toMatch(/--access-log-format: unsupported '%h' at character 7/);
  }, 60_000);

  it('2 workers, ab -n 2000 -c 20 into one file: exactly 2000 lines, each whole, from both workers', async () => {
    const file = path.join(dir, 'access.log');
    // Long lines (about 500 bytes) so that a turn's batch spans several pages.
    const pad = 'p'.repeat(400);
    const server = await start(PID_APP, ['--access-log', file, '--access-log-format', '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(p)s %(D)s %({x-pad}i)s']);
    const ab = await run('ab', ['-q', '-n', '2000', '-c', '20', '-H', `X-Pad: ${pad}`, `http://127.0.0.1:${server.port}/`], 180_000);
    expect(ab.stdout, ab.stdout + ab.stderr).toMatch(/Complete requests:\s+2000\n/);
    expect(ab.stdout, ab.stdout).toMatch(/Failed requests:\s+0\n/);
    const got = await waitLines(file, 2000);
    const re = new RegExp(`^127\\.0\\.0\\.1 - - \\[\\d{2}/[A-Z][a-z]{2}/\\d{4}:\\d{2}:\\d{2}:\\d{2} [+-]\\d{4}\\] "GET / HTTP/1\\.0" 200 9 "-" "ApacheBench/[\\d.]+" <(\\d+)> \\d+ ${pad}$`);
    const bad = got.filter((l) => !re.test(l));
    expect(bad.length, `lines not matching: ${bad.length}; first: ${JSON.stringify(bad.slice(0, 3))}`).toBe(0);
    const pids = new Map<number, number>();
    for (const l of got) {
      const pid = Number(re.exec(l)![1]);
      pids.set(pid, (pids.get(pid) ?? 0) + 1);
    }
    expect([...pids.keys()].sort(), `lines per worker: ${JSON.stringify([...pids])}`).toEqual(bootedPids(server).sort());
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(lines(file), 'nothing more after the stop').toHaveLength(2000);
  }, 240_000);

  it.runIf(process.platform === 'linux')('SIGUSR1 after a rename: old lines stay in log.1, new ones go to a new log; nothing dies, no debugger', async () => {
    const file = path.join(dir, 'access.log');
    const server = await start(PID_APP, ['--access-log', file, '--access-log-format', '%(U)s %(p)s']);
    const pids = bootedPids(server);
    for (let i = 0; i < 6; i++) expect((await curl(server.port, `/before-${i}`)).status).toBe('200');
    await waitLines(file, 6);
    fs.renameSync(file, `${file}.1`);
    process.kill(server.pid, 'SIGUSR1');
    // Every process of the server holds the new file and no longer the old one.
    const holders = (target: string): number[] =>
      [server.pid, ...pids].filter((pid) => {
        try {
          return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
            try {
              return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === target;
            } catch {
              return false;
            }
          });
        } catch {
          return false;
        }
      });
    await until(() => [holders(file).length, holders(`${file}.1`).length], ([now, old]) => now === 3 && old === 0, 'master and workers to reopen the log');
    for (let i = 0; i < 6; i++) expect((await curl(server.port, `/after-${i}`)).status).toBe('200');
    const after = await waitLines(file, 6);
    // (Sorted: each worker writes its lines at the end of its event-loop turn, so two workers' lines
    // can land in another order than the requests were answered.)
    expect(after.map((l) => l.split(' ')[0]).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `/after-${i}`));
    expect(lines(`${file}.1`).map((l) => l.split(' ')[0]).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `/before-${i}`));
    // Nobody died or was replaced, nobody started the inspector.
    const kids = (await childStates(server.pid)).filter((c) => !c.stat.startsWith('Z')).map((c) => c.pid).sort();
    expect(kids).toEqual([...pids].sort());
    expect(bootedPids(server)).toHaveLength(2);
    expect(server.stderr()).toBe('');
    // A USR1 straight to a worker is taken too (a reopen there, no inspector).
    process.kill(pids[0], 'SIGUSR1');
    expect((await curl(server.port, '/after-worker-usr1')).status).toBe('200');
    await waitLines(file, 7);
    expect(server.stderr()).toBe('');
    expect((await childStates(server.pid)).filter((c) => !c.stat.startsWith('Z')).map((c) => c.pid).sort()).toEqual([...pids].sort());
  }, 60_000);

  it('SIGUSR1 without an access log: the master and its workers live on, no debugger listens', async () => {
    const server = await start(PID_APP);
    const pids = bootedPids(server);
    process.kill(server.pid, 'SIGUSR1');
    for (const pid of pids) process.kill(pid, 'SIGUSR1');
    for (let i = 0; i < 4; i++) expect((await curl(server.port, '/')).status).toBe('200');
    const kids = (await childStates(server.pid)).filter((c) => !c.stat.startsWith('Z')).map((c) => c.pid).sort();
    expect(kids).toEqual([...pids].sort());
    expect(server.stderr()).not.toMatch(/Debugger|inspector/i);
    expect(server.stderr()).toBe('');
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 60_000);

  it("'-' writes to stdout beside the master's lines: under ab -n 500 -c 20 every line whole", async () => {
    const server = await start(PID_APP, ['--access-log', '-', '--access-log-format', '%(h)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s" %(p)s %({x-pad}i)s']);
    const pad = 'q'.repeat(300);
    const ab = await run('ab', ['-q', '-n', '500', '-c', '20', '-H', `X-Pad: ${pad}`, `http://127.0.0.1:${server.port}/`], 120_000);
    expect(ab.stdout, ab.stdout + ab.stderr).toMatch(/Complete requests:\s+500\n/);
    const re = new RegExp(`^127\\.0\\.0\\.1 \\[[^\\]]+\\] "GET / HTTP/1\\.0" 200 9 "ApacheBench/[\\d.]+" <\\d+> ${pad}$`);
    const accessLines = async (): Promise<string[]> => server.stdout().split('\n').filter((l) => l.includes('"GET '));
    const got = await until(accessLines, (l) => l.length >= 500, '500 access lines on stdout', 20_000);
    expect(got.length).toBe(500);
    const bad = got.filter((l) => !re.test(l));
    expect(bad.length, `broken lines: ${JSON.stringify(bad.slice(0, 3))}`).toBe(0);
    // The master's own lines are whole too.
    const other = server.stdout().split('\n').filter((l) => l !== '' && !l.includes('"GET '));
    expect(other.every((l) => /^(Serving |Booting worker with pid \d+$)/.test(l)), JSON.stringify(other)).toBe(true);
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 180_000);

  it("404s from both interfaces, chunked bodies without their framing, HEAD's empty body", async () => {
    for (const app of [EXPRESS, HONO]) {
      const file = path.join(dir, `${path.basename(app)}.log`);
      const server = await start(app, ['--access-log', file, '--access-log-format', '%(r)s|%(s)s|%(B)s|%(b)s'], 1);
      const missing = await curl(server.port, '/missing');
      expect(missing.status).toBe('404');
      const stream = await curl(server.port, '/stream');
      expect(stream.body).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
      await curl(server.port, '/hello', ['-I']);
      const got = await waitLines(file, 3);
      expect(got, app).toEqual([
        `GET /missing HTTP/1.1|404|${missing.size}|${missing.size}`,
        'GET /stream HTTP/1.1|200|40|40',
        'HEAD /hello HTTP/1.1|200|0|-',
      ]);
      server.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    }
  }, 60_000);

  it('errors the connection answers itself are logged with their status and bytes: 400 (no head: "-"), 413 (with its head), 408', async () => {
    const file = path.join(dir, 'access.log');
    const server = await start(EXPRESS, ['--access-log', file, '--max-body', '10'], 1);
    const badHeader = await rawRequest(server.port, 'GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    expect(badHeader).toMatch(/^HTTP\/1\.1 400 /);
    const badLine = await rawRequest(server.port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(badLine).toMatch(/^HTTP\/1\.1 400 /);
    const tooLarge = await rawRequest(server.port, `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${'z'.repeat(64)}\r\n0\r\n\r\n`);
    expect(tooLarge).toMatch(/^HTTP\/1\.1 413 /);
    // 408 from a server of its own with a short --headers-timeout (a loaded machine must not turn the requests above into 408s).
    const timeoutFile = path.join(dir, 'timeout.log');
    const timing = await start(EXPRESS, ['--access-log', timeoutFile, '--headers-timeout', '1'], 1);
    const slow = await rawRequest(timing.port, 'GET /hello HT'); // the head never completes
    expect(slow).toMatch(/^HTTP\/1\.1 408 /);
    const got = [...(await waitLines(file, 3)), ...(await waitLines(timeoutFile, 1))];
    const parsed = got.map((l) => DEFAULT_LINE_RE.exec(l));
    expect(parsed.every(Boolean), got.join('\n')).toBe(true);
    const fields = parsed.map((m) => [m![1], m![11], m![12], m![13]]);
    expect(fields, got.join('\n')).toEqual([
      ['127.0.0.1', '-', '400', String(Buffer.byteLength(bodyOf(badHeader)))],
      ['127.0.0.1', '-', '400', String(Buffer.byteLength(bodyOf(badLine)))],
      ['127.0.0.1', 'POST /upload HTTP/1.1', '413', String(Buffer.byteLength(bodyOf(tooLarge)))],
      ['127.0.0.1', '-', '408', String(Buffer.byteLength(bodyOf(slow)))],
    ]);
    // (stderr has Express's own report of the 413'd upload: its req 'error' handler hears 'aborted'.)
  }, 60_000);
});

describe('a stdout nobody reads', () => {
  it('--access-log - into a full pipe: requests keep being answered, lines are dropped and counted, not waited for', async () => {
    // The reader's end is open and not read: a 64 KB pipe that fills after some 600 lines.
    const pipe = await unreadPipe(path.join(dir, 'stdout.fifo'));
    const port = await freePort();
    const server = spawn(process.execPath, [path.join(ROOT, 'dist', 'forkserve.js'), '-w', '2', '--port', String(port), '--access-log', '-', PID_APP], {
      stdio: ['ignore', pipe.writer, 'pipe'],
      detached: true,
    });
    fs.closeSync(pipe.writer);
    let stderr = '';
    server.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      await until(async () => (await run('curl', ['-sS', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`], 5000)).stdout, (c) => c === '200', 'the server answering', 20_000);
      const ab = await run('ab', ['-q', '-k', '-s', '10', '-n', '3000', '-c', '4', `http://127.0.0.1:${port}/`], 90_000);
      expect(ab.stdout, `${ab.stdout}${ab.stderr} | ${stderr}`).toMatch(/Complete requests:\s+3000\n/);
      expect(ab.stdout, ab.stdout).toMatch(/Failed requests:\s+0\n/);
      // The reader reads again: the next line written says how many were dropped.
      pipe.drain();
      const lines = await until(
        async () => {
          await run('curl', ['-sS', '-m', '2', '-o', '/dev/null', `http://127.0.0.1:${port}/`], 5000);
          return pipe.drain();
        },
        (t) => /lines of output dropped: nobody read this stdout for a while/.test(t),
        'the count of dropped lines',
        20_000,
      );
      const dropped = [...lines.matchAll(/forkserve \d+: (\d+) lines of output dropped/g)].reduce((n, m) => n + Number(m[1]), 0);
      const written = lines.split('\n').filter((l) => l.includes('"GET / HTTP/1.0"')).length;
      expect(dropped, `${written} lines written`).toBeGreaterThan(0);
      expect(stderr).not.toMatch(/was killed|timed out/);
    } finally {
      try {
        process.kill(-server.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      pipe.close();
    }
  }, 150_000);
});

describe.runIf(process.platform === 'linux' && process.getuid?.() === 0)('a full disk', () => {
  /** Fills the server's tmpfs from outside (through /proc/PID/root: its mount namespace) until ENOSPC. */
  function fill(pid: number, mount: string): void {
    const fd = fs.openSync(`/proc/${pid}/root${mount}/filler`, 'a');
    try {
      for (const chunk = Buffer.alloc(512, 'x'); ; ) fs.writeSync(fd, chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
  }

  it('--access-log on a 64 KB tmpfs that fills twice: served on, said each time it fails and when it writes again, lines dropped counted, the others whole', async () => {
    // A tmpfs of its own, in a mount namespace of its own: nothing outside the test sees it.
    const mount = dir;
    const runAs = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=64k tmpfs "${mount}" && exec "$@"`, 'sh'];
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--access-log', `${mount}/access.log`, PID_APP], { runAs, timeoutMs: 20_000 });
    const log = `/proc/${server.pid}/root${mount}/access.log`;
    const agent = `a-long-user-agent/${'x'.repeat(200)}`;
    const get = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) expect((await curl(server.port, `/?round=${i}`, ['-A', agent])).status).toBe('200');
    };
    const seen = (): string => `stderr: ${server.stderr()}\nlog tail: ${lines(log).slice(-3).join('\n')}`;
    await get(3);
    await waitLines(log, 3);
    let total = 3;
    for (const round of [1, 2]) {
      fill(server.pid, mount);
      await get(40); // ~300 bytes a line: more than the room left in the log's last page
      total += 40;
      await until(() => server.stderr().match(/write ENOSPC/g)?.length ?? 0, (n) => n === round, `failure ${round} said`, 10_000).catch(() => 0);
      expect(server.stderr().match(/: write ENOSPC; dropping lines until a write goes through/g), seen()).toHaveLength(round);
      fs.rmSync(`/proc/${server.pid}/root${mount}/filler`);
      await get(2);
      total += 2;
      await until(() => server.stderr().match(/writing again/g)?.length ?? 0, (n) => n === round, `recovery ${round} said`, 10_000).catch(() => 0);
      expect(server.stderr().match(/: writing again after ENOSPC \(\d+ lines? dropped\)/g), seen()).toHaveLength(round);
    }
    // Every line is whole but those the disk cut short (at most one per failure, ended before the next);
    // whole lines and those said dropped add up to the requests.
    const all = lines(log);
    const whole = all.filter((l) => DEFAULT_LINE_RE.test(l) && l.endsWith(`"${agent}"`));
    expect(all.length - whole.length, seen()).toBeLessThanOrEqual(2);
    const dropped = [...server.stderr().matchAll(/\((\d+) lines? dropped\)/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(whole.length + dropped, seen()).toBe(total);
    expect(dropped, seen()).toBeGreaterThan(0);
    expect(whole.slice(-2).map((l) => DEFAULT_LINE_RE.exec(l)![11]), seen()).toEqual(['GET /?round=0 HTTP/1.1', 'GET /?round=1 HTTP/1.1']);
  }, 120_000);
});
