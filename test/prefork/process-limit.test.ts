// forkserve at a process limit (systemd's TasksMax, a container's pids limit, RLIMIT_NPROC): a HUP or
// TTIN whose fork fails leaves the master and its workers serving, says why, and is done once forks
// succeed again. RLIMIT_NPROC does not bind root, so the server runs as nobody from a copy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AS_NOBODY, FIXTURES, childStates, copyForNobody, killAll, run, startServer, until } from '../helpers/procs';

afterEach(killAll);

const linux = process.platform === 'linux';

async function pidOf(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(15_000) });
  expect(res.status).toBe(200);
  return Number((await res.text()).trim());
}

/** The pids that answer 20 requests (new connections each: any worker may take one). */
async function answering(port: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < 20; i++) pids.add(await pidOf(port));
  return pids;
}

describe.runIf(linux && process.getuid?.() === 0)('forkserve when fork() fails at a process limit', () => {
  it('HUP and TTIN: the master lives, the old workers serve on, the log says why; raised limit: both are done', async () => {
    const dir = copyForNobody([path.join(FIXTURES, 'apps', 'pid.js')]);
    try {
      const server = await startServer(path.join(dir, 'dist', 'forkserve.js'), ['-w', '2', '--port', '0', `${path.join(dir, 'pid.js')}:app`], {
        runAs: AS_NOBODY,
        timeoutMs: 20_000,
      });
      const seen = (): string => `stdout: ${server.stdout().slice(-1500)}\nstderr: ${server.stderr().slice(-1500)}`;
      const prlimit = (arg: string) => run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'prlimit', '--pid', String(server.pid), arg]);
      const old = (await until(() => childStates(server.pid), (c) => c.length === 2, 'two workers', 15_000)).map((c) => c.pid).sort();
      expect([...(await answering(server.port))].every((p) => old.includes(p)), seen()).toBe(true);

      // Below the user's task count (threads included): every fork is refused by the kernel.
      expect((await prlimit('--nproc=1:')).code).toBe(0);
      server.kill('SIGHUP');
      await until(() => server.stderr(), (e) => /fork EAGAIN/.test(e), 'the HUP fork to fail', 10_000).catch(() => '');
      expect(server.stderr(), seen()).toMatch(/fork EAGAIN: Resource temporarily unavailable: worker spawn postponed \(2 workers serving; trying again every 1 s\)/);
      server.kill('SIGTTIN');
      await until(() => server.stderr(), (e) => /TTIN: not done yet/.test(e), 'TTIN to be answered', 10_000).catch(() => '');
      expect(server.stderr(), seen()).toMatch(/TTIN: not done yet, forks are failing \(fork EAGAIN: Resource temporarily unavailable\); 2 workers serving, 3 wanted/);
      // A few retries later: the same two workers answer, and the master is alive.
      await new Promise((r) => setTimeout(r, 2500));
      expect(server.proc.exitCode, seen()).toBeNull();
      for (const p of await answering(server.port)) expect(old, seen()).toContain(p);
      expect((await childStates(server.pid)).map((c) => c.pid).sort(), seen()).toEqual(old);

      // The limit raised: the HUP replaces both, and TTIN's third worker comes.
      expect((await prlimit('--nproc=4096:')).code).toBe(0);
      const now = await until(
        () => childStates(server.pid),
        (c) => c.length === 3 && c.every((k) => !old.includes(k.pid)),
        'three new workers after the limit was raised',
        20_000,
      ).catch(async () => childStates(server.pid));
      expect(now.map((c) => c.pid).filter((p) => old.includes(p)), seen()).toEqual([]);
      expect(now, seen()).toHaveLength(3);
      expect(server.stdout(), seen()).toMatch(/Forking workers again/);
      for (const p of await answering(server.port)) expect(old, seen()).not.toContain(p);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
