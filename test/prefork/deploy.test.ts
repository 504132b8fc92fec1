// Deploying forkserve as gunicorn is deployed: USR2 code upgrades under load (and a broken new app
// that must not take the old master down), unix sockets (mode, stale files, removal at exit),
// descriptors passed in (fd://N), systemd socket activation through Debian's systemd-socket-activate,
// and sd_notify to a notify socket the test listens on. Real processes, real curl and ab.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, FIXTURES, ROOT, killAll, run, sleep, startServer, until, type Server } from '../helpers/procs';

afterEach(killAll);

const CLIENT = path.join(FIXTURES, 'deploy', 'client.js');
const PID_APP = `${path.join(FIXTURES, 'apps', 'pid.js')}:app`;

interface Answer {
  version: string;
  pid: number;
  master: number;
  remoteAddress: string | null;
  ip: string | null;
  protocol: string;
  secure: boolean;
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-deploy-'));
}

/** The deploy app, copied where the test can edit it. */
function appCopy(dir: string): string {
  const file = path.join(dir, 'app.js');
  fs.copyFileSync(CLIENT, file);
  return `${file}:app`;
}

async function curl(target: { port?: number; socket?: string }, urlPath = '/', extra: string[] = []): Promise<{ code: number | null; body: string; stderr: string }> {
  const where = target.socket ? ['--unix-socket', target.socket, `http://localhost${urlPath}`] : [`http://127.0.0.1:${target.port}${urlPath}`];
  const r = await run('curl', ['-sS', '--fail', '--max-time', '20', ...extra, ...where], 30_000);
  return { code: r.code, body: r.stdout, stderr: r.stderr };
}

async function answer(target: { port?: number; socket?: string }, urlPath = '/', extra: string[] = []): Promise<Answer> {
  const r = await curl(target, urlPath, extra);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.body) as Answer;
}

function booted(out: string): number {
  return (out.match(/^Booting worker with pid \d+$/gm) ?? []).length;
}

async function start(args: string[], workers = 2): Promise<Server> {
  const server = await startServer('forkserve.js', ['-w', String(workers), ...args], { group: true, cwd: ROOT });
  await until(() => booted(server.stdout()), (n) => n >= workers, `${workers} "Booting worker" lines`);
  return server;
}

/** The process exists and is not a zombie (an orphan's zombie waits for pid 1, which may be slow to reap). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function log(server: Server): string {
  return `\n--- stdout\n${server.stdout()}\n--- stderr\n${server.stderr()}`;
}

describe('USR2: a new master with the new code, no request lost', () => {
  it('under ab load: 0 failed, the new master serves the edited code, the old one exits 0', async () => {
    const dir = tmpdir();
    const app = appCopy(dir);
    const server = await start(['--port', '0', app]);
    const before = await answer({ port: server.port });
    expect(before).toMatchObject({ version: 'one', master: server.pid });
    fs.writeFileSync(app.slice(0, -4), fs.readFileSync(app.slice(0, -4), 'utf8').replace("VERSION = 'one'", "VERSION = 'two'"));

    // Load through the whole upgrade: ab must still be running when the old master has stopped.
    let abDone = false;
    const ab = run('ab', ['-q', '-n', '8000', '-c', '8', `http://127.0.0.1:${server.port}/ab`], 120_000).then((r) => {
      abDone = true;
      return r;
    });
    await sleep(300);
    server.kill('SIGUSR2');
    const exit = await server.exited;
    const stillLoaded = !abDone;
    const r = await ab;
    expect(exit, log(server)).toEqual({ code: 0, signal: null });
    expect(r.stdout, r.stdout + r.stderr).toMatch(/Complete requests:\s+8000\n/);
    expect(r.stdout, r.stdout + log(server)).toMatch(/Failed requests:\s+0\n/);
    expect(r.stdout, r.stdout).not.toMatch(/Non-2xx/);
    expect(stillLoaded, `ab finished before the old master stopped: the load did not span the upgrade${log(server)}`).toBe(true);

    const newMaster = Number(/^Upgrade: new master (\d+) is ready; stopping this one/m.exec(server.stdout())?.[1]);
    expect(newMaster, log(server)).toBeGreaterThan(0);
    expect(newMaster).not.toBe(server.pid);
    // The old master stopped only once the new one was ready.
    const out = server.stdout();
    expect(out.indexOf('is ready; stopping this one'), out).toBeLessThan(out.indexOf('Shutting down'));
    expect(out.indexOf('Shutting down'), out).toBeGreaterThan(0);
    const after = await answer({ port: server.port });
    expect(after).toMatchObject({ version: 'two', master: newMaster });
    expect(server.stderr()).toBe('');
    process.kill(newMaster, 'SIGTERM');
    await until(() => running(newMaster), (alive) => !alive, 'the new master to exit on TERM');
  }, 180_000);

  it('a new app that fails to load: the old master says so and keeps serving; a fixed one then takes over', async () => {
    const dir = tmpdir();
    const app = appCopy(dir);
    const file = app.slice(0, -4);
    const server = await start(['--port', '0', app]);
    fs.appendFileSync(file, '\nthis is not javascript(\n');
    server.kill('SIGUSR2');
    await until(() => server.stderr(), (e) => /Upgrade failed/.test(e), '"Upgrade failed" on stderr', 30_000);
    expect(server.stderr(), log(server)).toMatch(/cannot load .*app\.js/);
    expect(server.stderr()).toMatch(/^Upgrade failed: the new master \(pid \d+\) exited with code 1 before it was ready; still serving here \(\d+\)$/m);
    expect(await answer({ port: server.port })).toMatchObject({ version: 'one', master: server.pid });
    expect(server.proc.exitCode).toBe(null);

    fs.writeFileSync(file, fs.readFileSync(CLIENT, 'utf8').replace("VERSION = 'one'", "VERSION = 'two'"));
    server.kill('SIGUSR2');
    expect(await server.exited, log(server)).toEqual({ code: 0, signal: null });
    expect(await answer({ port: server.port })).toMatchObject({ version: 'two' });
  }, 120_000);

  it('USR2 to the whole process group: workers ignore it; a second USR2 while one is in progress is refused', async () => {
    const server = await start(['--port', '0', `${CLIENT}:app`]);
    process.kill(-server.pid, 'SIGUSR2'); // as `systemctl kill -s USR2` does by default: every process

    // (two signals sent at once would be one: the kernel does not queue them)
    await until(() => server.stdout(), (o) => /^Upgrade: starting a new master/m.test(o), 'the upgrade to start');
    server.kill('SIGUSR2');
    expect(await server.exited, log(server)).toEqual({ code: 0, signal: null });
    expect(server.stdout().match(/^Upgrade: starting a new master/gm)?.length, log(server)).toBe(1);
    // No worker was killed by the signal: the only line on stderr is about the second USR2.
    expect(server.stderr()).toMatch(/^Upgrade already in progress \(new master pid \d+\): ignoring USR2\n$/);
  }, 60_000);
});

/**
 * A server on a unix socket whose workers take 3 s to boot (a postFork hook), USR2'd: returns once
 * the new master has forked its workers, which cannot accept yet (the new master is not ready).
 */
async function pendingUpgrade(): Promise<{ server: Server; sock: string; newMaster: number }> {
  const sock = path.join(tmpdir(), 'app.sock');
  const slow = path.join(FIXTURES, 'configs', 'slow-post-fork.config.js');
  const server = await start(['-b', `unix:${sock}`, '-c', slow, PID_APP]);
  await until(async () => (await curl({ socket: sock })).code, (c) => c === 0, 'the first workers to accept', 20_000);
  server.kill('SIGUSR2');
  const started = await until(() => /^Upgrade: starting a new master \(pid (\d+)\)/m.exec(server.stdout()), (m) => m !== null, 'the upgrade to start');
  await until(() => booted(server.stdout()), (n) => n >= 4, "the new master's workers to be forked");
  return { server, sock, newMaster: Number(started![1]) };
}

describe('a stop while an upgrade is pending', () => {
  it('TERM to the old master: it stops the new one too; nothing is left, the socket file is gone', async () => {
    const { server, sock, newMaster } = await pendingUpgrade();
    server.kill('SIGTERM');
    expect(await server.exited, log(server)).toEqual({ code: 0, signal: null });
    expect(server.stderr()).toContain(`Stopping the new master ${newMaster} too: the upgrade is abandoned`);
    await until(() => running(newMaster), (alive) => !alive, 'the new master to exit', 20_000);
    expect(server.stdout()).not.toMatch(/is ready; stopping this one/);
    expect(fs.existsSync(sock)).toBe(false);
  }, 60_000);

  it('TERM to the new master: the upgrade is abandoned, the old master keeps serving and its socket file', async () => {
    const { server, sock, newMaster } = await pendingUpgrade();
    process.kill(newMaster, 'SIGTERM');
    await until(() => server.stderr(), (e) => /Upgrade failed: the new master/.test(e), '"Upgrade failed" from the old master', 30_000);
    expect(server.stdout()).not.toMatch(/is ready; stopping this one/);
    expect(server.proc.exitCode).toBe(null);
    expect(fs.existsSync(sock)).toBe(true);
    expect((await curl({ socket: sock })).code).toBe(0);
    server.kill('SIGTERM');
    expect(await server.exited, log(server)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(sock)).toBe(false);
  }, 60_000);
});

describe('unix sockets and inherited descriptors', () => {
  it('-b unix:PATH: mode 0660 by default (0666 with --socket-mode, and a warning), a unix peer, trusted X-Forwarded-*, the file removed at exit', async () => {
    const dir = tmpdir();
    fs.chmodSync(dir, 0o755); // (another user may reach the sockets in it: only their modes decide)
    const sock = path.join(dir, 'app.sock');
    const server = await start(['-b', `unix:${sock}`, `${CLIENT}:app`]);
    expect(server.socketPath).toBe(sock);
    const st = fs.statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('660');
    expect(server.stderr()).not.toMatch(/any local user/);
    const relative = await startServer('forkserve.js', ['-w', '1', '-b', 'unix:rel.sock', '--socket-mode', '0666', PID_APP], { group: true, cwd: dir });
    // A relative path is the start directory's, and removed from there at exit.
    expect(relative.socketPath).toBe(path.join(fs.realpathSync(dir), 'rel.sock'));
    expect((fs.statSync(path.join(dir, 'rel.sock')).mode & 0o777).toString(8)).toBe('666');
    expect(relative.stderr()).toMatch(
      /^warning: unix:\/\S+\/rel\.sock has mode 0666 \(--socket-mode\): any local user can connect and is trusted as the proxy: its X-Forwarded-For\/-Proto are believed; 0660 with the proxy in the socket's group keeps them out\n/,
    );
    if (process.getuid?.() === 0) {
      // Another user, in none of the groups: refused by the default mode, let in by 0666.
      const connect = "require('net').connect(process.argv[1]).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => console.log(e.code))";
      const asNobody = (socket: string) => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', connect, socket]);
      expect((await asNobody(sock)).stdout).toBe('EACCES\n');
      expect((await asNobody(path.join(dir, 'rel.sock'))).stdout).toBe('connected\n');
    }
    await until(() => booted(relative.stdout()), (n) => n >= 1, 'a worker'); // (the master's TERM handler is in place)
    relative.kill('SIGTERM');
    expect(await relative.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(path.join(dir, 'rel.sock'))).toBe(false);
    // A unix peer has no address, as in node:net.
    expect(await answer({ socket: sock })).toMatchObject({ remoteAddress: null, protocol: 'http', secure: false });
    // A unix socket's peer is a trusted proxy: its X-Forwarded-For/-Proto say who the client is.
    const proxied = await answer({ socket: sock }, '/', ['-H', 'X-Forwarded-For: 203.0.113.9', '-H', 'X-Forwarded-Proto: https']);
    expect(proxied).toMatchObject({ remoteAddress: '203.0.113.9', ip: '203.0.113.9', protocol: 'https', secure: true });
    server.kill('SIGTERM');
    expect(await server.exited, log(server)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(sock)).toBe(false);
  });

  it('a stale socket file is replaced; a live server\'s socket is refused with one line and exit 1', async () => {
    const dir = tmpdir();
    const sock = path.join(dir, 'app.sock');
    // A socket file nobody listens on (its server was killed): bound by a process that exits.
    const stale = await run('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    expect(stale.code, stale.stderr).toBe(0);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    const server = await start(['-b', `unix:${sock}`, PID_APP]);
    expect((await curl({ socket: sock })).code).toBe(0);

    const second = await run(process.execPath, [path.join(DIST, 'forkserve.js'), '-w', '1', '-b', `unix:${sock}`, PID_APP], 30_000);
    expect(second.code, second.stderr).toBe(1);
    expect(second.stderr).toMatch(/^node .*forkserve\.js: bind EADDRINUSE: a server is listening on it \/.*app\.sock\n$/);
    // The first server was not disturbed.
    expect((await curl({ socket: sock })).code).toBe(0);
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('-b fd://N serves on a listening socket it was given, and refuses a descriptor that is not one', async () => {
    // python binds and listens, then execs forkserve with the socket as descriptor 3.
    const script = [
      'import os, socket, sys',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)',
      'if s.fileno() != 3: os.dup2(s.fileno(), 3)',
      'os.set_inheritable(3, True)',
      'os.execv(sys.argv[1], sys.argv[1:])',
    ].join('\n');
    const server = await startServer('forkserve.js', ['-c', script, process.execPath, path.join(DIST, 'forkserve.js'), '-w', '2', '-b', 'fd://3', PID_APP], {
      executable: 'python3', group: true, cwd: ROOT,
    });
    await until(() => booted(server.stdout()), (n) => n >= 2, 'two workers');
    expect(server.port).toBeGreaterThan(0);
    expect((await curl({ port: server.port })).code).toBe(0);
    server.kill('SIGTERM');
    expect(await server.exited, log(server)).toEqual({ code: 0, signal: null });

    const notListening = await run(process.execPath, [path.join(DIST, 'forkserve.js'), '-b', 'fd://0', PID_APP], 30_000, '');
    expect(notListening.code).toBe(1);
    expect(notListening.stderr).toMatch(/^node .*forkserve\.js: --bind fd:\/\/0: descriptor 0 is not a (listening stream )?socket/);
  });

  it('--forwarded-allow-ips decides whose X-Forwarded-For is believed on TCP', async () => {
    const trusting = await start(['--port', '0', `${CLIENT}:app`]); // default: 127.0.0.1,::1
    const xff = ['-H', 'X-Forwarded-For: 198.51.100.7, 10.1.2.3', '-H', 'X-Forwarded-Proto: https'];
    // Read from the right: 10.1.2.3 is not a trusted proxy, so it is the client.
    expect(await answer({ port: trusting.port }, '/', xff)).toMatchObject({ remoteAddress: '10.1.2.3', protocol: 'https' });
    trusting.kill('SIGTERM');
    await trusting.exited;

    const wider = await start(['--port', '0', '--forwarded-allow-ips', '127.0.0.1,10.0.0.0/8', `${CLIENT}:app`]);
    expect(await answer({ port: wider.port }, '/', xff)).toMatchObject({ remoteAddress: '198.51.100.7', protocol: 'https' });
    wider.kill('SIGTERM');
    await wider.exited;

    const none = await start(['--port', '0', '--forwarded-allow-ips', '192.0.2.1', `${CLIENT}:app`]);
    expect(await answer({ port: none.port }, '/', xff)).toMatchObject({ remoteAddress: '127.0.0.1', protocol: 'http', secure: false });
    none.kill('SIGTERM');
    await none.exited;

    const bad = await run(process.execPath, [path.join(DIST, 'forkserve.js'), '--forwarded-allow-ips', '10.0.0.0/99', PID_APP]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid --forwarded-allow-ips: '10\.0\.0\.0\/99' has a bad prefix length\n$/);
  }, 90_000);
});

/** The stand-in for systemd's notify socket: each datagram as an array of lines, in order. */
function notifyListener(socketPath: string): { messages: () => string[][]; stop: () => void } {
  const proc = spawn('python3', [path.join(FIXTURES, 'deploy', 'notify-listener.py'), socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    messages: () => out.split('\n').filter((l) => l.startsWith('[')).map((l) => JSON.parse(l) as string[]),
    stop: () => proc.kill('SIGKILL'),
  };
}

describe('systemd', () => {
  it('socket activation (systemd-socket-activate) and sd_notify: READY, RELOADING around HUP and USR2, MAINPID, STOPPING', async () => {
    const dir = tmpdir();
    fs.chmodSync(dir, 0o755);
    const sock = path.join(dir, 'activated.sock');
    const notifyPath = path.join(dir, 'notify.sock');
    const listener = notifyListener(notifyPath);
    try {
      await until(() => fs.existsSync(notifyPath), (e) => e, 'the notify socket');
      const starting = startServer('forkserve.js', ['-l', sock, '-E', `NOTIFY_SOCKET=${notifyPath}`, process.execPath, path.join(DIST, 'forkserve.js'),
        '-w', '2', '-b', '127.0.0.1:1', `${CLIENT}:app`], { executable: 'systemd-socket-activate', group: true, cwd: ROOT, timeoutMs: 30_000 });
      // systemd-socket-activate listens, and starts the server at the first connection (as systemd
      // does): that connection waits in the backlog and is answered.
      await until(() => fs.existsSync(sock), (e) => e, 'the activated socket');
      const firstAnswer = answer({ socket: sock });
      const server = await starting;
      const first = await firstAnswer;
      // The socket came from the activator: -b is not used, the activated unix socket serves.
      expect(server.socketPath, log(server)).toBe(sock);
      await until(() => listener.messages(), (m) => m.some((l) => l.includes('READY=1')), 'READY=1', 20_000);
      // Ready means every worker accepts: both have booted by then.
      expect(booted(server.stdout()), log(server)).toBe(2);
      expect(first.master).toBe(server.pid); // systemd-socket-activate execs: the master is its pid
      expect(listener.messages()[0]).toEqual(['READY=1', 'STATUS=2 workers']);

      server.kill('SIGHUP');
      await until(() => listener.messages().length, (n) => n >= 3, 'RELOADING=1 and READY=1 after HUP', 20_000);
      const [reloading, readyAgain] = listener.messages().slice(1, 3);
      expect(reloading[0]).toBe('RELOADING=1');
      expect(reloading[1]).toMatch(/^MONOTONIC_USEC=\d+$/);
      expect(readyAgain).toEqual(['READY=1']);

      server.kill('SIGUSR2');
      expect(await server.exited, log(server)).toEqual({ code: 0, signal: null });
      const newMaster = Number(/^Upgrade: new master (\d+) is ready/m.exec(server.stdout())?.[1]);
      const upgrade = listener.messages().slice(3);
      expect(upgrade[0][0], JSON.stringify(upgrade)).toBe('RELOADING=1');
      expect(upgrade[1], JSON.stringify(upgrade)).toEqual([`MAINPID=${newMaster}`, 'READY=1']);
      // The activated socket is systemd's: neither master removes it; the new one serves on it.
      expect(fs.existsSync(sock)).toBe(true);
      expect(await answer({ socket: sock })).toMatchObject({ master: newMaster });

      process.kill(newMaster, 'SIGTERM');
      await until(() => listener.messages(), (m) => m.some((l) => l.includes('STOPPING=1')), 'STOPPING=1 from the new master', 20_000);
      expect(listener.messages().filter((l) => l.includes('STOPPING=1')).length).toBe(1); // the old master did not say it
    } finally {
      listener.stop();
    }
  }, 120_000);

  it('LISTEN_FDS meant for another pid is ignored: -b is bound as usual', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', PID_APP], {
      group: true, env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' },
    });
    await until(() => booted(server.stdout()), (n) => n >= 1, 'a worker');
    expect((await curl({ port: server.port })).code).toBe(0);
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });
});
