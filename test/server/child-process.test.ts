// Sharing the server process with child_process. The servers that host apps watch SIGCHLD through
// libuv and reap only their own children by pid, so an app's helpers (started at load time, in the
// parent) and its per-request commands (in the forked children) work as they do under node:http:
// their 'exit' fires where they were started and nowhere else, nobody steals anybody's child, no
// process reads output meant for another, and no zombie of either kind is left.
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, FIXTURES, ROOT, childStates, eventually, killAll, lastJson, run, sleep, startServer, type Server } from '../helpers/procs';

afterEach(killAll);

const SPAWNING = `${path.join(FIXTURES, 'apps', 'spawning.js')}:app`;

/** Zombies among the server's children and their children (ps, so it works on macOS too). */
async function zombiesUnder(pid: number): Promise<string[]> {
  const r = await run('ps', ['-A', '-o', 'pid=,ppid=,stat=']);
  const rows = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, pp] of rows) if (tree.has(Number(pp)) && !tree.has(Number(p))) (tree.add(Number(p)), (grew = true));
  }
  return rows.filter(([p, , stat]) => Number(p) !== pid && tree.has(Number(p)) && stat.startsWith('Z')).map((f) => f.join(' '));
}

/**
 * Zombies under `pid` that are still there 300 ms later: with the app's churn (a short child after
 * another, each a zombie for the moment between its exit and libuv's reaping) one look can catch
 * a child just exiting (seen in CI: '20202 19231 Z', a churn child of the server); a zombie
 * nobody reaps stays, and fails.
 */
async function lastingZombiesUnder(pid: number): Promise<string[]> {
  const first = await zombiesUnder(pid);
  if (first.length === 0) return first;
  await sleep(300);
  const again = new Set(await zombiesUnder(pid));
  return first.filter((z) => again.has(z));
}

function helperPid(server: Server): number {
  const m = /helper (\d+) started in (\d+)/.exec(server.stderr());
  expect(m, server.stderr()).not.toBeNull();
  expect(Number(m![2]), 'the helper starts in the parent, where the app is loaded').toBe(server.pid);
  return Number(m![1]);
}

/** Kills the app's helper and checks that the parent alone saw it end, and read all its output. */
async function endHelper(server: Server, helper: number): Promise<void> {
  await eventually(() => server.stderr(), (e) => e.includes(`helper ${helper} ticking`));
  process.kill(helper, 'SIGTERM');
  const closed = new RegExp(`helper ${helper} closed: (\\d+) ticks read, (\\d+) gaps`);
  const err = await eventually(() => server.stderr(), (e) => closed.test(e));
  expect(err, 'the parent sees its helper exit').toContain(`helper ${helper} exit SIGTERM in ${server.pid}`);
  const [, ticks, gaps] = closed.exec(err)!;
  expect(Number(ticks), err).toBeGreaterThan(0);
  expect(Number(gaps), `ticks read by another process: ${err}`).toBe(0);
}

function expectNothingStolen(server: Server): void {
  const stolen = server.stderr().split('\n').filter((l) => l.startsWith('STOLEN'));
  expect(stolen.length, `a forked child saw the parent's child_process children: ${stolen.slice(0, 5).join('; ')}`).toBe(0);
}

describe('concurrent-final hosting an app that uses child_process', () => {
  it('a helper started at load time and a command per request: ab -n 250 -c 20, 0 failures, 0 zombies, every exit where it belongs', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', SPAWNING]);
    const helper = helperPid(server);
    const ab = await run('ab', ['-q', '-n', '250', '-c', '20', `http://127.0.0.1:${server.port}/`], 180_000);
    expect(ab.code, ab.stderr).toBe(0);
    expect(ab.stdout, ab.stdout).toMatch(/Complete requests:\s+250/);
    expect(ab.stdout, ab.stdout).toMatch(/Failed requests:\s+0\n/);
    expect(ab.stdout, ab.stdout).not.toMatch(/Non-2xx/);
    // Our children are all reaped: only the app's helper is left.
    const left = await eventually(() => childStates(server.pid), (c) => c.length === 1);
    expect(left.map((c) => c.pid), JSON.stringify(left)).toEqual([helper]);
    expect(await zombiesUnder(server.pid)).toEqual([]);
    await endHelper(server, helper);
    expectNothingStolen(server);
    expect(await eventually(() => childStates(server.pid), (c) => c.length === 0)).toEqual([]);
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toMatch(/Stopped after 250 connections\./);
    expect(server.stderr()).not.toMatch(/was reaped by someone else|exited with code/);
  }, 240_000);

  it('bursts of 128 connections while the parent starts and waits for one child after another: 0 zombies of either kind', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', SPAWNING], { env: { ...process.env, CHURN: '1' } });
    const helper = helperPid(server);
    for (let burst = 0; burst < 2; burst++) {
      const r = await run(process.execPath, [path.join(DIST, 'client2.js'), '--port', String(server.port), '--host', '127.0.0.1',
        '--max-clients', '128', '--max-conns', '1'], 120_000);
      expect(lastJson<{ made: number }>(r.stdout).made, r.stdout + r.stderr).toBe(128);
    }
    const left = await eventually(() => childStates(server.pid), (c) => c.every((k) => k.pid === helper || !k.stat.startsWith('Z')) && c.length <= 2);
    expect(left.filter((c) => c.pid !== helper).length, `only the helper and at most one churn child: ${JSON.stringify(left)}`).toBeLessThanOrEqual(1);
    expect(await lastingZombiesUnder(server.pid)).toEqual([]);
    await endHelper(server, helper);
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    const churn = /churn: (\d+) spawned, (\d+) exits seen/.exec(server.stderr());
    expect(churn, server.stderr()).not.toBeNull();
    const [spawned, exits] = [Number(churn![1]), Number(churn![2])];
    expect(spawned, 'the parent kept starting children during the bursts').toBeGreaterThan(20);
    expect(exits, "every churn child's exit but the one still running was seen by the parent").toBeGreaterThanOrEqual(spawned - 1);
    expectNothingStolen(server);
    expect(server.stdout()).toMatch(/Stopped after 256 connections\./);
  }, 240_000);
});

describe.runIf(process.platform === 'linux')("the server's descriptors stay out of the programs an app runs (close-on-exec)", () => {
  it('a command run by a child holds neither the listener nor the client connection; one run by the parent, not the listener', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', SPAWNING]);
    const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${server.port}/fds`]);
    expect(r.stdout, r.stdout + r.stderr).toMatch(/^0 sockets\n/);
    process.kill(server.pid, 'SIGUSR2');
    const err = await eventually(() => server.stderr(), (e) => e.includes("parent's command holds"));
    expect(err).toContain("parent's command holds 0 sockets");
  }, 60_000);
});

describe('webserver2 hosting the same app', () => {
  it('serves, runs the per-request command and sees its helper exit', async () => {
    const server = await startServer('webserver2.js', ['--port', '0', SPAWNING]);
    const helper = helperPid(server);
    for (let i = 0; i < 5; i++) {
      const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${server.port}/`]);
      expect(r.stdout, r.stderr).toMatch(new RegExp(`^worker +${server.pid} ran sh +\\d+\\n$`));
    }
    await endHelper(server, helper);
    expect(await zombiesUnder(server.pid)).toEqual([]);
  }, 60_000);
});

describe('a TypeScript app through tsx', () => {
  // tsx compiles with esbuild, whose synchronous API keeps a worker thread (a child would wait on
  // it forever) unless ESBUILD_WORKER_THREADS=0; TSX_DISABLE_CACHE=1 makes it compile every time,
  // as on a fresh machine (with its disk cache warm, tsx never starts esbuild).
  const TSX_ENV = { ...process.env, TSX_DISABLE_CACHE: '1' };

  it('without ESBUILD_WORKER_THREADS=0 the start is refused: one line naming esbuild and the fix, exit 1', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', path.join(DIST, 'concurrent-final.js'), '--port', '0', path.join(FIXTURES, 'apps', 'typed-express.ts')], 60_000, undefined, {
      cwd: ROOT,
      env: { ...TSX_ENV, ESBUILD_WORKER_THREADS: '' },
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).not.toMatch(/Serving HTTP/);
    expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/fork: the app started a thread before the fork.*tsx compiling TypeScript \(esbuild keeps a Worker for that\), start with ESBUILD_WORKER_THREADS=0/);
  }, 90_000);

  it('node --import tsx dist/concurrent-final.js app.ts (ESBUILD_WORKER_THREADS=0) serves it, with no zombies left', async () => {
    const server = await startServer('', ['--import', 'tsx', path.join(DIST, 'concurrent-final.js'), '--port', '0',
      path.join(FIXTURES, 'apps', 'typed-express.ts')], { executable: process.execPath, cwd: ROOT, env: { ...TSX_ENV, ESBUILD_WORKER_THREADS: '0' }, timeoutMs: 30_000 });
    const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${server.port}/hello?who=tsx`]);
    expect(JSON.parse(r.stdout), r.stderr + server.stderr()).toEqual({ text: 'Hello tsx from TypeScript!', runtime: process.versions.node });
    const ab = await run('ab', ['-q', '-n', '100', '-c', '10', `http://127.0.0.1:${server.port}/hello`], 120_000);
    expect(ab.stdout, ab.stdout + ab.stderr).toMatch(/Failed requests:\s+0\n/);
    expect(ab.stdout).not.toMatch(/Non-2xx/);
    expect(await zombiesUnder(server.pid)).toEqual([]);
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stderr()).toBe('');
  }, 120_000);
});
