// fork(), waitpid(), zombies, descriptors and SIGCHLD, each in a throw-away process.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { FIXTURES, childStates, killAll, lastJson, run, runFixture, sleep } from '../helpers/procs';

afterEach(killAll);

describe('fork and waitpid', () => {
  it('waitpid(-1, WNOHANG) is 0 while a child lives, decodes its exit, then fails with ECHILD', async () => {
    const r = await runFixture('fork-basics.js', ['waitpid']);
    expect(r.code, r.stderr).toBe(0);
    const o = lastJson<any>(r.stdout);
    expect(o.early.pid).toBe(0);
    expect(o.done).toMatchObject({ pid: o.pid, exitCode: 7, signal: null });
    expect(o.after).toMatchObject({ code: 'ECHILD', syscall: 'waitpid', errno: -10, isPosix: true });
    expect(o.killed).toMatchObject({ exitCode: null, signal: 9 });
  });

  it('an unreaped child is a Z process in ps, and kill -9 does not remove it', async () => {
    const proc = spawn(process.execPath, [path.join(FIXTURES, 'fork-basics.js'), 'zombie'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve) => proc.stdout!.once('data', (d) => resolve(String(d))));
      const { parent, child } = JSON.parse(line);
      let states: { pid: number; stat: string }[] = [];
      for (let i = 0; i < 50 && !states.some((s) => s.pid === child && s.stat.startsWith('Z')); i++) {
        await sleep(50);
        states = await childStates(parent);
      }
      expect(states).toContainEqual({ pid: child, stat: expect.stringMatching(/^Z/) });
      const ps = await run('ps', ['-o', 'pid=,stat=,cmd=', '--ppid', String(parent)]);
      expect(ps.stdout).toMatch(new RegExp(`${child}\\s+Z.*<defunct>`));
      process.kill(child, 'SIGKILL');
      await sleep(200);
      expect(await childStates(parent)).toContainEqual({ pid: child, stat: expect.stringMatching(/^Z/) });
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('each side closes its own copy of a descriptor: the other side keeps it', async () => {
    const r = await runFixture('fork-basics.js', ['fds']);
    expect(r.code, r.stderr).toBe(0);
    const o = lastJson<any>(r.stdout);
    expect(o.childFiles).not.toContain(o.listenerFile);
    expect(o.childFiles).toContain(o.clientFile);
    expect(o.parentFiles).toContain(o.listenerFile);
    expect(o.parentFiles).not.toContain(o.clientFile);
    expect(o.after).toBe(o.before - 1); // the client socket; the pipe is closed again
  });

  it('a child leaves through _exit on every path: empty loop, process.exit, uncaught exception', async () => {
    const r = await runFixture('fork-basics.js', ['exitPaths'], 30_000);
    expect(r.code, r.stderr).toBe(0);
    const o = lastJson<any>(r.stdout);
    expect(o.emptyLoop).toMatchObject({ exitCode: 4, hung: false });
    expect(o.processExit).toMatchObject({ exitCode: 3, hung: false });
    expect(o.uncaught).toMatchObject({ exitCode: 1, hung: false });
    expect(r.stderr).toContain('boom in child');
    for (const k of ['emptyLoop', 'processExit', 'uncaught']) expect(o[k].ms).toBeLessThan(3000);
    // process.pid is the child's own; the parent's 'exit' handlers ran only in the parent.
    const pidLine = JSON.parse(r.stdout.split('\n').find((l) => l.includes('childPid'))!);
    expect(pidLine.childPid).toBe(pidLine.getpid);
    expect(pidLine.ppid).toBe(o.parentPid);
    expect(r.stdout.match(/parent exit handler ran in (\d+)/g)).toEqual([`parent exit handler ran in ${o.parentPid}`]);
  });
});

describe('SIGCHLD', () => {
  it('signals coalesce: five children exit while SIGCHLD is blocked, one delivery, five to reap', async () => {
    const r = await runFixture('fork-basics.js', ['coalesce']);
    expect(r.code, r.stderr).toBe(0);
    const helper = JSON.parse(r.stdout.split('\n').find((l) => l.includes('deliveries'))!);
    expect(helper).toEqual({ deliveries: 1, handlerRuns: 1, reaped: 5, kids: 5 });
    expect(lastJson<any>(r.stdout)).toEqual({ helperExit: 0, helperSignal: null });
  });

  it('refuses to replace libuv\'s SIGCHLD handler, and fork() refuses once ours was replaced', async () => {
    const r = await runFixture('fork-basics.js', ['foreignHandler']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toEqual({ install: 'ERR_FORKSERVE_SIGCHLD_IN_USE', fork: 'ERR_FORKSERVE_SIGCHLD_REPLACED' });
  });

  it('without SA_RESTART a blocking accept() fails with EINTR when SIGCHLD arrives', async () => {
    const r = await runFixture('fork-basics.js', ['eintr'], 30_000);
    expect(r.code, r.stderr).toBe(0);
    const { attempts } = lastJson<any>(r.stdout);
    expect(attempts.at(-1)).toMatchObject({ code: 'EINTR', syscall: 'accept', isPosix: true });
  });

  it('fork() while child_process children start, print and exit around it: each process sees only its own children', async () => {
    const r = await runFixture('fork-child-process.js', ['40'], 90_000);
    expect(r.code, r.stderr).toBe(0);
    const seen = lastJson<any>(r.stdout);
    const text = JSON.stringify(seen);
    expect(seen.timedOut, text).toBe(false);
    // Every forked child exited 0: its own command's exit came, none of the parent's helpers' output or exits.
    expect(seen.codes, text).toEqual({ 'code 0': 40 });
    // The parent saw every helper's line and exit (nobody read or reaped them for it) ...
    expect(seen.helpers.spawned, text).toBeGreaterThan(4);
    expect(seen.helpers.exits, text).toBe(seen.helpers.spawned);
    expect(seen.helpers.lines, text).toBe(seen.helpers.spawned);
    // ... and nothing is left to reap (waitid: no children at all).
    expect(seen.leftover, text).toBe(process.platform === 'linux' ? -1 : 'ENOSYS');
  });
});
