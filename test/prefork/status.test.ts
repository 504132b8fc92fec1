// forkserve's status view as real processes: `forkserve status PATH` (table and --json) while a
// worker is busy, stuck or idle, requests counted per worker, RSS/PSS from /proc; the control socket
// (mode 0600, answered by the master only, never held by a worker, gone after the master exits,
// a stale one replaced); the client's one-line errors; the HTML page in headless Chromium, live.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, FIXTURES, childStates, killAll, run, startServer, until, type RunResult, type Server } from '../helpers/procs';
import { decodePng } from '../helpers/png';
import type { StatusSnapshot, WorkerStatus } from '../../src/prefork/status-snapshot';

const HOLD_APP = `${path.join(FIXTURES, 'apps', 'hold.js')}:app`;
const PID_APP = `${path.join(FIXTURES, 'apps', 'pid.js')}:app`;
const FORKSERVE = path.join(DIST, 'forkserve.js');
const CHROMIUM = '/usr/bin/chromium';
const LINUX = process.platform === 'linux';

const servers: Server[] = [];
const dirs: string[] = [];

afterEach(() => {
  // The whole group: a worker blocked in a handler would outlive its master by up to 20 s.
  for (const s of servers.splice(0)) {
    try {
      process.kill(-s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  killAll();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-status-'));
  dirs.push(dir);
  return dir;
}

/** What the control socket answers (the test's own client, to poll cheaply). */
function ask(sock: string): Promise<StatusSnapshot> {
  return new Promise((resolve, reject) => {
    let text = '';
    const conn = net.connect(sock);
    conn.setTimeout(5000, () => conn.destroy(new Error(`no answer on ${sock} in 5 s`)));
    conn.setEncoding('utf8').on('data', (d: string) => (text += d));
    conn.on('error', reject);
    conn.on('end', () => {
      try {
        resolve(JSON.parse(text) as StatusSnapshot);
      } catch (err) {
        reject(err);
      }
    });
  });
}

const askOrNull = (sock: string): Promise<StatusSnapshot | null> => ask(sock).catch(() => null);

function status(args: string[]): Promise<RunResult> {
  return run(process.execPath, [FORKSERVE, 'status', ...args], 30_000);
}

interface Started {
  server: Server;
  sock: string;
  dir: string;
}

/** forkserve with 2 workers and a status socket; resolves once both workers are idle. */
async function start(app: string, extra: string[] = []): Promise<Started> {
  const dir = tmpDir();
  const sock = path.join(dir, 'status.sock');
  const server = await startServer('forkserve.js', ['-w', '2', '--port', '0', '--status-socket', sock, ...extra, app], { group: true, timeoutMs: 20_000 });
  servers.push(server);
  await until(() => askOrNull(sock), (s) => s !== null && s.workers.length === 2 && s.workers.every((w) => w.state === 'idle'), 'two idle workers', 20_000);
  return { server, sock, dir };
}

/** A request in flight until the returned socket is destroyed (hold.js answers /hold never). */
function hold(port: number, urlPath = '/hold'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`GET ${urlPath} HTTP/1.1\r\nHost: x\r\n\r\n`);
      resolve(s);
    });
    s.on('error', reject);
  });
}

async function get(port: number, urlPath: string): Promise<string> {
  const r = await run('curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${port}${urlPath}`], 30_000);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The table's row of `pid`, split into its columns (the request column holds no double space). */
function row(table: string, pid: number): string[] {
  const line = table.split('\n').find((l) => l.trim().startsWith(`${pid} `));
  if (!line) throw new Error(`no row for ${pid} in:\n${table}`);
  return line.trim().split(/\s{2,}/);
}

const HEADER = ['PID', 'STATE', 'REQUEST', 'FOR', 'CONNS', 'SERVED', 'RSS', 'PSS', 'AGE'];

function expectMemory(p: { rssKb: number | null; pssKb: number | null }): void {
  expect(p.rssKb).toBeGreaterThan(1000);
  expect(p.pssKb).toBeGreaterThan(0);
  expect(p.pssKb!).toBeLessThanOrEqual(p.rssKb!);
}

describe('forkserve status', () => {
  it('one worker busy in a request, the other idle: the table and --json say which, with what and for how long', async () => {
    const { server, sock } = await start(HOLD_APP);
    const held = await hold(server.port, '/hold?id=7');
    try {
      await until(() => ask(sock), (s) => s.workers.some((w) => w.state === 'busy'), 'a busy worker');
      const table = await status([sock]);
      const asJson = await status([sock, '--json']);
      expect(table.code, table.stderr).toBe(0);
      expect(asJson.code, asJson.stderr).toBe(0);
      expect(table.stderr + asJson.stderr).toBe('');
      const s = JSON.parse(asJson.stdout) as StatusSnapshot;

      expect(s.version).toBe(1);
      expect(s.master).toMatchObject({ pid: server.pid, state: 'running', workersTarget: 2 });
      const kids = (await childStates(server.pid)).map((c) => c.pid).sort();
      expect(s.workers.map((w) => w.pid).sort()).toEqual(kids);
      const busy = s.workers.find((w) => w.state === 'busy')!;
      const idle = s.workers.find((w) => w.pid !== busy.pid)!;
      expect(busy, 'the query string is left out').toMatchObject({ request: 'GET /hold?…', inFlight: 1, connections: 1, requests: 0, stopping: null });
      expect(busy.requestMs).toBeGreaterThanOrEqual(0);
      expect(idle).toMatchObject({ state: 'idle', request: null, requestMs: null, inFlight: 0, connections: 0, requests: 0 });

      const lines = table.stdout.split('\n');
      expect(lines[0]).toMatch(new RegExp(`^forkserve master ${server.pid}, running, up [\\d.]+ s, 2 workers \\(target 2\\)$`));
      expect(lines[2].trim().split(/\s+/)).toEqual(HEADER);
      const [bPid, bState, bRequest, bFor, bConns, bServed, bRss, bPss, bAge] = row(table.stdout, busy.pid);
      expect([bPid, bState, bRequest, bConns, bServed]).toEqual([String(busy.pid), 'busy', 'GET /hold?…', '1', '0']);
      expect(bFor).toMatch(/^\d+\.\d s$/);
      expect(bAge).toMatch(/^\d+\.\d s$/);
      expect(row(table.stdout, idle.pid).slice(0, 6)).toEqual([String(idle.pid), 'idle', '-', '-', '0', '0']);
      if (LINUX) {
        for (const p of [s.master, ...s.workers]) expectMemory(p);
        expect(bRss).toMatch(/^\d+\.\d MB$/);
        expect(bPss).toMatch(/^\d+\.\d MB$/);
        expect(table.stdout).toMatch(/^master RSS \d+\.\d MB, PSS \d+\.\d MB; PSS of the master and its workers: \d+\.\d MB$/m);
      }
    } finally {
      held.destroy();
    }
    // The client went away: the request is over (counted), the worker idle again.
    const after = await until(() => ask(sock), (s) => s.workers.every((w) => w.state === 'idle'), 'both idle again');
    expect(after.workers.reduce((n, w) => n + w.requests, 0)).toBe(1);
  });

  it('requests served: each worker counts the requests it answered, and they add up', async () => {
    const { server, sock } = await start(HOLD_APP);
    const N = 12;
    const answeredBy = new Map<number, number>();
    for (let i = 0; i < N; i++) {
      const pid = Number(await get(server.port, '/'));
      answeredBy.set(pid, (answeredBy.get(pid) ?? 0) + 1);
    }
    const s = await until(() => ask(sock), (x) => x.workers.reduce((n, w) => n + w.requests, 0) === N, `${N} requests counted`);
    for (const w of s.workers) expect(w.requests, `worker ${w.pid}`).toBe(answeredBy.get(w.pid) ?? 0);
    const table = (await status([sock])).stdout;
    for (const w of s.workers) expect(row(table, w.pid)[5], table).toBe(String(w.requests));
  });

  it('a worker whose handler blocks its event loop shows as stuck after 2 s, with the request', async () => {
    const { server, sock } = await start(PID_APP);
    void run('curl', ['-sS', '--max-time', '40', `http://127.0.0.1:${server.port}/block?who=status`], 45_000);
    const s = await until(() => ask(sock), (x) => x.workers.some((w) => w.state === 'stuck'), 'a stuck worker', 20_000);
    const stuck = s.workers.find((w) => w.state === 'stuck')!;
    expect(stuck.request).toBe('GET /block?…');
    expect(stuck.sinceTickMs).toBeGreaterThan(2000);
    expect(s.workers.find((w) => w !== stuck)!.state).toBe('idle');
    const table = await status([sock]);
    expect(row(table.stdout, stuck.pid).slice(1, 3)).toEqual(['stuck', 'GET /block?…']);
  });

  it('workers whose postFork hook has not finished show as booting, then idle', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'status.sock');
    const go = path.join(dir, 'go');
    const config = path.join(dir, 'wait.config.js');
    // postFork waits until the test creates the file: the workers boot for as long as the test wants.
    fs.writeFileSync(config, `const fs = require('node:fs');
module.exports.postFork = () => new Promise((resolve) => {
  const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(go)})) { clearInterval(t); resolve(); } }, 50);
});\n`);
    const server = await startServer('forkserve.js', ['-w', '2', '--port', '0', '--status-socket', sock, '-c', config, HOLD_APP], { group: true });
    servers.push(server);
    await until(() => askOrNull(sock), (s) => s !== null && s.workers.length === 2 && s.workers.every((w) => w.state === 'booting'), 'two booting workers');
    const table = await status([sock]);
    expect(table.stdout.match(/^\s*\d+\s+booting\s+-\s/gm), table.stdout).toHaveLength(2);
    fs.writeFileSync(go, '');
    await until(() => ask(sock), (s) => s.workers.length === 2 && s.workers.every((w) => w.state === 'idle'), 'two idle workers');
  });

  it('HUP: the old worker still in a request shows as stopping (retiring), beside its replacements', async () => {
    const { server, sock } = await start(HOLD_APP);
    const held = await hold(server.port);
    let busy: WorkerStatus | undefined;
    try {
      const before = await until(() => ask(sock), (s) => s.workers.some((w) => w.state === 'busy'), 'a busy worker');
      busy = before.workers.find((w) => w.state === 'busy')!;
      process.kill(server.pid, 'SIGHUP');
      // The idle old worker leaves at once; the busy one stays until its request ends.
      const s = await until(() => ask(sock), (x) => x.workers.length === 3 && x.workers.filter((w) => w.state === 'idle').length === 2, 'two new idle workers and the old busy one');
      const old = s.workers.find((w) => w.pid === busy!.pid)!;
      expect(old).toMatchObject({ state: 'stopping', stopping: 'retiring', request: 'GET /hold', inFlight: 1 });
      expect(s.master.workersTarget).toBe(2);
      const table = await status([sock]);
      expect(row(table.stdout, old.pid).slice(1, 3)).toEqual(['stopping (retiring)', 'GET /hold']);
      expect(table.stdout).toMatch(/, 3 workers \(target 2\)\n/);
    } finally {
      held.destroy();
    }
    const after = await until(() => ask(sock), (s) => s.workers.length === 2 && s.workers.every((w) => w.state === 'idle'), 'two idle workers');
    expect(after.workers.map((w) => w.pid)).not.toContain(busy!.pid);
  });
});

describe('the status socket', () => {
  it('is mode 0600, answered by the master only, and gone after the master exits (TERM)', async () => {
    const { server, sock, dir } = await start(HOLD_APP);
    const st = fs.lstatSync(sock);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('600');
    expect(fs.readdirSync(dir), 'nothing else left in the directory').toEqual(['status.sock']);
    for (let i = 0; i < 20; i++) expect((await ask(sock)).master.pid).toBe(server.pid);
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(sock)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
    const r = await status([sock]);
    expect(r.code).toBe(1);
  });

  it.runIf(LINUX)('no worker holds the status listeners or a connection to them, also one forked later (TTIN)', async () => {
    const { server, sock, dir } = await start(HOLD_APP, ['--status-page', '127.0.0.1:0']);
    const pagePort = Number(/^Status page: http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(server.stdout())![1]);
    // A keep-alive connection to the page stays open in the master while TTIN forks a worker.
    const keep = net.connect(pagePort, '127.0.0.1');
    let answered = '';
    keep.setEncoding('utf8').on('data', (d: string) => (answered += d));
    keep.write('GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(() => answered, (a) => a.includes('"workers"'), 'the page answering');
    process.kill(server.pid, 'SIGTTIN');
    const s = await until(() => ask(sock), (x) => x.workers.length === 3 && x.workers.every((w) => w.state === 'idle'), 'three idle workers');
    expect(JSON.parse(answered.slice(answered.indexOf('{'))).master.pid).toBe(server.pid);

    // The status listener: /proc/net/unix names the address it was bound to (under dir).
    const unixInodes = fs.readFileSync('/proc/net/unix', 'utf8').split('\n').map((l) => l.trim().split(/\s+/))
      .filter((f) => f[7]?.startsWith(dir) && f[3] === '00010000') // __SO_ACCEPTCON: listening
      .map((f) => f[6]);
    // The page's listener and its open connection: local port pagePort in /proc/net/tcp.
    const portHex = `:${pagePort.toString(16).toUpperCase().padStart(4, '0')}`;
    const tcpInodes = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(portHex) && f[9] !== '0') // not TIME_WAIT
      .map((f) => f[9]);
    expect(unixInodes).toHaveLength(1);
    expect(tcpInodes.length, 'the listener and the kept connection').toBe(2);
    const sockets = (pid: number): string[] => fs.readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } });
    const ours = [...unixInodes, ...tcpInodes].map((i) => `socket:[${i}]`);
    expect(sockets(server.pid).filter((l) => ours.includes(l)).sort(), 'the master holds them all').toEqual([...ours].sort());
    for (const w of s.workers) expect(sockets(w.pid).filter((l) => ours.includes(l)), `worker ${w.pid}`).toEqual([]);
    keep.destroy();
  });

  it('USR2: the new master takes the socket over once its workers accept, never leaving the path empty; the page follows', async () => {
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const pagePort = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const { server, sock } = await start(HOLD_APP, ['--status-page', `127.0.0.1:${pagePort}`]);
    // Ask all along the upgrade: every answer comes from the old master, then from the new one.
    const answers: number[] = [];
    const failures: string[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        await ask(sock).then((s) => answers.push(s.master.pid), (err: Error) => failures.push(err.message));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    process.kill(server.pid, 'SIGUSR2');
    expect(await server.exited, server.stderr()).toEqual({ code: 0, signal: null });
    const s = await until(() => ask(sock), (x) => x.master.pid !== server.pid && x.workers.length === 2 && x.workers.every((w) => w.state === 'idle'), 'the new master');
    const newPid = s.master.pid;
    const page = await until(
      () => fetch(`http://127.0.0.1:${pagePort}/status.json`).then((r) => r.json() as Promise<StatusSnapshot>, () => null),
      (x) => x?.master.pid === newPid,
      'the page, from the new master',
    );
    expect(page!.workers.map((w) => w.pid).sort()).toEqual(s.workers.map((w) => w.pid).sort());
    polling = false;
    await poll;
    expect(failures).toEqual([]);
    expect(answers[0]).toBe(server.pid);
    expect(answers.findIndex((p) => p === newPid), 'the new master answered').toBeGreaterThan(0);
    expect(answers.slice(answers.indexOf(newPid)).every((p) => p === newPid), 'never the old one again').toBe(true);
    expect(fs.lstatSync(sock).isSocket(), 'the old master left the new one its socket').toBe(true);
    process.kill(newPid, 'SIGTERM');
    await until(() => fs.existsSync(sock), (e) => !e, 'the socket gone with the new master');
  });

  it('a stale socket file (its master was killed) is replaced; anything else at the path is refused', async () => {
    const first = await start(HOLD_APP);
    process.kill(-first.server.pid, 'SIGKILL');
    await first.server.exited;
    expect(fs.lstatSync(first.sock).isSocket(), 'left behind').toBe(true);
    expect((await status([first.sock])).stderr).toMatch(/connect ECONNREFUSED/);

    const again = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--status-socket', first.sock, HOLD_APP], { group: true });
    servers.push(again);
    expect((await until(() => askOrNull(first.sock), (s) => s !== null, 'the new master answering'))!.master.pid).toBe(again.pid);

    const file = path.join(first.dir, 'notes.txt');
    fs.writeFileSync(file, 'keep me\n');
    const r = await run(process.execPath, [FORKSERVE, '-w', '1', '--port', '0', '--status-socket', file, HOLD_APP], 30_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^node \S*forkserve\.js: --status-socket \S+notes\.txt: exists and is not a socket\n$/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me\n');
  });
});

describe('a second master on a live status socket', () => {
  it('is refused: one line, exit 1; the first master keeps its socket', async () => {
    const first = await start(HOLD_APP);
    const r = await run(process.execPath, [FORKSERVE, '-w', '1', '--port', '0', '--status-socket', first.sock, HOLD_APP], 30_000);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^node \S*forkserve\.js: --status-socket \S+status\.sock: a server is listening on it \(another forkserve master\?\); give this one its own path\n$/);
    expect((await ask(first.sock)).master.pid).toBe(first.server.pid);
  });
});

describe('the status command line', () => {
  it('a missing socket, or a path nobody listens on: one line naming the path and the errno, exit 1', async () => {
    const dir = tmpDir();
    const missing = path.join(dir, 'x.sock');
    const r = await status([missing]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`node ${path.relative(process.cwd(), FORKSERVE)} status: connect ENOENT ${missing}\n`);
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, '');
    const refused = await status([file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^node \S*forkserve\.js status: connect ECONNREFUSED \S+plain\n$/);
  });

  it('usage: status needs one PATH, has its own --help; forkserve --help tells of both status options', async () => {
    const none = await status([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^node \S*forkserve\.js status: one PATH expected/);
    const help = await status(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: node \S*forkserve\.js status \[options\] PATH\n/);
    expect(help.stdout).toMatch(/--json/);
    const bad = await status(['--jsn', '/tmp/x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^node \S*forkserve\.js status: Unknown option '--jsn'/);
    const main = await run(process.execPath, [FORKSERVE, '--help']);
    expect(main.stdout).toMatch(/--status-socket <value>/);
    expect(main.stdout).toMatch(/--status-page <value>/);
    expect(main.stdout).toMatch(/status PATH \[--json\]/);
    const page = await run(process.execPath, [FORKSERVE, '--port', '0', '--status-page', 'example.com:80', HOLD_APP]);
    expect(page.code).toBe(2);
    expect(page.stderr).toMatch(/invalid --status-page 'example\.com:80'/);
  });

  it('a --status-page port in use: one line, exit 1, and the status socket is not left behind', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const dir = tmpDir();
    try {
      const r = await run(process.execPath, [FORKSERVE, '-w', '1', '--port', '0', '--status-socket', path.join(dir, 's.sock'), '--status-page', `127.0.0.1:${port}`, HOLD_APP], 30_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^node \\S*forkserve\\.js: --status-page 127\\.0\\.0\\.1:${port}: listen EADDRINUSE\\b.*\\n$`));
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      taken.close();
    }
  });
});

describe('the status page', () => {
  it('a flood is answered at a pace (one request per 20 ms), and beyond 100 waiting with 503 and Retry-After, so the master stays free', async () => {
    const { server } = await start(HOLD_APP, ['--status-page', '127.0.0.1:0']);
    const url = /^Status page: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(server.stdout())![1];
    const t0 = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 300 }, () =>
        fetch(`${url}status.json`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(20_000) }).then(async (r) => {
          await r.arrayBuffer();
          return r.status === 503 ? `503 ${r.headers.get('retry-after')}` : String(r.status);
        }),
      ),
    );
    const ok = statuses.filter((x) => x === '200').length;
    const busy = statuses.filter((x) => x === '503 1').length;
    expect(ok + busy, statuses.join(' ')).toBe(300);
    expect(busy, `${ok} answered in ${Date.now() - t0} ms`).toBeGreaterThan(0);
    expect(ok).toBeGreaterThanOrEqual(100);
  });

  it('answers only requests addressed to it by IP address, localhost or this machine\'s name (421 for others: DNS rebinding)', async () => {
    const { server } = await start(HOLD_APP, ['--status-page', '127.0.0.1:0']);
    const port = /^Status page: http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(server.stdout())![1];
    const code = async (host: string): Promise<string> =>
      (await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${host}`, `http://127.0.0.1:${port}/status.json`], 10_000)).stdout;
    expect(await code(`127.0.0.1:${port}`)).toBe('200');
    expect(await code(`localhost:${port}`)).toBe('200');
    expect(await code(`${os.hostname()}:${port}`)).toBe('200');
    expect(await code(`evil.example:${port}`)).toBe('421');
    expect(await code('127.0.0.1.evil.example')).toBe('421');
  });

  // CI installs Debian's chromium (.ci/run); elsewhere the test needs it too, unless it is missing outside CI.
  it.skipIf(!fs.existsSync(CHROMIUM) && !process.env.CI)('in headless Chromium: both workers, a busy one appears live, the screenshot shows it', async () => {
    const { server, sock, dir } = await start(HOLD_APP, ['--status-page', '127.0.0.1:0']);
    const url = /^Status page: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(server.stdout())![1];
    const pids = (await ask(sock)).workers.map((w) => w.pid);

    const json = await fetch(`${url}status.json`);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(((await json.json()) as StatusSnapshot).master.pid).toBe(server.pid);
    expect((await fetch(`${url}nope`)).status).toBe(404);

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
    let held: net.Socket | undefined;
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 420 }, deviceScaleFactor: 1 });
      page.setDefaultTimeout(15_000);
      const problems: string[] = [];
      page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(url);
      await page.waitForFunction((p) => p.every((pid) => document.querySelector(`tr[data-pid="${pid}"]`)), pids);
      await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
      expect(await page.locator('#summary').textContent()).toMatch(new RegExp(`^master ${server.pid}, running, up .+, 2 workers \\(target 2\\)$`));

      held = await hold(server.port);
      await page.waitForFunction(() => document.querySelector('tr[data-state="busy"]')?.textContent?.includes('GET /hold'));
      expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed), 'updated in place, not reloaded').toBe(true);
      const busyPid = Number(await page.locator('tr[data-state="busy"]').getAttribute('data-pid'));
      expect((await ask(sock)).workers.find((w) => w.state === 'busy')?.pid).toBe(busyPid);
      const idlePid = pids.find((p) => p !== busyPid)!;
      expect(await page.locator(`tr[data-pid="${idlePid}"]`).getAttribute('data-state')).toBe('idle');

      // Freeze the page for the picture: it replaces its rows every second, and a row replaced
      // between the screenshot and the measuring of its box had no box (null: once in CI, loaded).
      // Its next poll waits at a gate until the measuring is done; the one in flight lands first.
      await page.evaluate(() => {
        const w = window as unknown as { fetch: typeof fetch; resumePolls: () => void };
        const real = w.fetch;
        let open = (): void => {};
        const gate = new Promise<void>((resolve) => (open = resolve));
        w.fetch = (...args: Parameters<typeof fetch>) => gate.then(() => real(...args));
        w.resumePolls = () => {
          w.fetch = real;
          open();
        };
      });
      await page.waitForTimeout(1500);
      await page.locator(`tr[data-pid="${busyPid}"][data-state="busy"]`).waitFor();
      const file = path.join(dir, 'status-page.png');
      await page.screenshot({ path: file });
      const image = decodePng(fs.readFileSync(file));
      expect([image.width, image.height]).toEqual([900, 420]);
      // Where the DOM puts the busy row, the picture has the busy colour; the idle row is not.
      const share = async (selector: string, colour: [number, number, number]): Promise<number> => {
        const box = (await page.locator(selector).boundingBox())!;
        let n = 0;
        let all = 0;
        for (let y = Math.ceil(box.y) + 2; y < box.y + box.height - 2; y++) {
          for (let x = Math.ceil(box.x) + 2; x < box.x + box.width - 2; x++, all++) {
            const [r, g, b] = image.rgb(x, y);
            if (r === colour[0] && g === colour[1] && b === colour[2]) n++;
          }
        }
        return n / all;
      };
      const colourOf = async (selector: string): Promise<[number, number, number]> => {
        const css = await page.locator(selector).evaluate((e) => getComputedStyle(e).backgroundColor);
        return css.match(/\d+/g)!.slice(0, 3).map(Number) as [number, number, number];
      };
      const busyColour = await colourOf(`tr[data-pid="${busyPid}"]`);
      expect(busyColour).toEqual([255, 243, 191]);
      expect(await share(`tr[data-pid="${busyPid}"]`, busyColour)).toBeGreaterThan(0.5);
      expect(await share(`tr[data-pid="${idlePid}"]`, busyColour)).toBe(0);
      expect(await share('thead tr', [0x34, 0x3a, 0x40])).toBeGreaterThan(0.5);
      const colours = new Set<number>();
      for (let y = 0; y < image.height; y += 2) for (let x = 0; x < image.width; x += 2) colours.add(image.rgb(x, y).reduce((a, c) => a * 256 + c, 0));
      expect(colours.size, 'text and table, not a blank picture').toBeGreaterThan(20);

      // The request ends: the page follows; the master stops: the page says so.
      await page.evaluate(() => (window as unknown as { resumePolls: () => void }).resumePolls());
      held.destroy();
      await page.waitForFunction((p) => p.every((pid) => document.querySelector(`tr[data-pid="${pid}"]`)?.getAttribute('data-state') === 'idle'), pids);
      server.kill('SIGTERM');
      await server.exited;
      await page.waitForFunction(() => !document.getElementById('error')!.hidden);
      expect(problems.filter((p) => !/Failed to (load resource|fetch)|ERR_CONNECTION_REFUSED/.test(p))).toEqual([]);
    } finally {
      held?.destroy();
      await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10_000))]);
    }
  }, 90_000);
});
