// The tutorial's part 3 stages, each lesson observed on real processes: queues, zombies, leaked
// descriptors, coalescing signals, EINTR, and the final server that leaves nothing behind.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AS_NOBODY, DIST, childStates, copyForNobody, eventually, fdCount, killAll, lastJson, run, runFixture, sleep, startServer } from '../helpers/procs';
import { connectMany, exchange } from '../helpers/net';

afterEach(killAll);

const CANNED = 'HTTP/1.1 200 OK\n\nHello, World!\n';
const REQUEST = 'GET /hello HTTP/1.1\nHost: localhost:8888\n\n';
const linux = process.platform === 'linux';

async function zombiesOf(pid: number): Promise<number[]> {
  return (await childStates(pid)).filter((c) => c.stat.startsWith('Z')).map((c) => c.pid);
}

async function client2(port: number, clients: number, conns: number): Promise<{ made: number; failed: number }> {
  const r = await run(process.execPath, [path.join(DIST, 'client2.js'), '--port', String(port), '--host', '127.0.0.1',
    '--max-clients', String(clients), '--max-conns', String(conns)], 60_000);
  return lastJson(r.stdout);
}

describe('iterative and sleep (3a, 3b)', () => {
  it('iterative answers with the canned response', async () => {
    const server = await startServer('iterative.js', ['--port', '0']);
    const r = await exchange(server.port, REQUEST);
    expect(r.data.toString('latin1')).toBe(CANNED);
  });

  it('sleep: a second client gets its first byte only after the first client\'s sleep', async () => {
    const server = await startServer('sleep.js', ['--port', '0', '--sleep', '1.5']);
    const first = exchange(server.port, REQUEST);
    await sleep(100);
    const second = exchange(server.port, REQUEST);
    const [a, b] = await Promise.all([first, second]);
    expect(a.firstByteMs).toBeLessThan(700);
    expect(a.endMs).toBeGreaterThanOrEqual(1400); // the connection closes after the sleep
    expect(b.firstByteMs).toBeGreaterThanOrEqual(1300); // waited in the accept queue meanwhile
    expect(b.data.toString('latin1')).toBe(CANNED);
  });

  it.runIf(linux)('backlog 5 is a queue: one client served plus 6 queued complete the handshake, further SYNs wait', async () => {
    const server = await startServer('sleep.js', ['--port', '0', '--sleep', '5']);
    const first = exchange(server.port, REQUEST, 8000);
    await eventually(() => server.stdout(), (o) => o.includes('GET /hello'), 3000); // accepted, now sleeping
    const { connected, sockets } = await connectMany(server.port, 9, 700);
    try {
      expect(connected).toBe(6);
    } finally {
      for (const s of sockets) s.destroy();
      server.kill();
      await first.catch(() => {});
    }
  });
});

describe('concurrent (3c): fork per connection, no reaping', () => {
  it('N requests leave N zombie children; kill -9 on a zombie changes nothing', async () => {
    const server = await startServer('concurrent.js', ['--port', '0', '--sleep', '0.2']);
    const replies = await Promise.all([1, 2, 3, 4].map(() => exchange(server.port, REQUEST)));
    for (const r of replies) {
      expect(r.data.toString('latin1')).toBe(CANNED);
      expect(r.endMs).toBeGreaterThanOrEqual(150); // the child closes only after its sleep
    }
    const zombies = await eventually(() => zombiesOf(server.pid), (z) => z.length === 4);
    expect(zombies).toHaveLength(4);
    process.kill(zombies[0], 'SIGKILL');
    await sleep(200);
    expect(await zombiesOf(server.pid)).toContain(zombies[0]);
    expect(server.stdout()).toMatch(/Child PID: \d+\. Parent PID \d+/);
  });
});

describe('concurrent2 (3d): the parent keeps client sockets open', () => {
  it('curl gets the body but never EOF (exit 28), and the server gains one fd per request', async () => {
    const server = await startServer('concurrent2.js', ['--port', '0']);
    const r = await run('curl', ['-sS', '-m', '2', `http://127.0.0.1:${server.port}/hello`], 10_000);
    expect(r.code).toBe(28);
    expect(r.stdout).toBe('Hello, World!\n');
    // After the first fork (which sets up what later ones reuse), each request costs one fd.
    const before = fdCount(server.pid);
    for (let i = 0; i < 3; i++) await exchange(server.port, REQUEST, 300);
    expect(await eventually(() => fdCount(server.pid), (n) => n === before + 3)).toBe(before + 3);
    expect(server.stdout()).toMatch(/^4$/m); // it prints how many client sockets it holds
    expect(await eventually(() => zombiesOf(server.pid), (z) => z.length === 4)).toHaveLength(4);
  });

  it.runIf(linux)('with RLIMIT_NOFILE 64, accept() fails with EMFILE and the server dies, as the original did', async () => {
    const server = await startServer('concurrent2.js', ['--port', '0'], { ulimitNofile: 64 });
    await client2(server.port, 60, 1);
    const exit = await Promise.race([server.exited, sleep(20_000).then(() => null)]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(server.stderr()).toMatch(/accept EMFILE: Too many open files/);
    expect(server.stderr()).not.toMatch(/\n\s+at /);
  });
});

describe('concurrent3 (3e/3f): once-per-signal reaping', () => {
  it('bursts of 128 clients leave zombies behind: signals coalesce', async () => {
    const server = await startServer('concurrent3.js', ['--port', '0']);
    let zombies: number[] = [];
    for (let burst = 0; burst < 5 && zombies.length === 0; burst++) {
      const made = await client2(server.port, 128, 1);
      expect(made.made).toBe(128);
      await sleep(1000);
      zombies = await zombiesOf(server.pid);
    }
    expect(zombies.length).toBeGreaterThan(0);
    expect(server.stdout()).toMatch(/Child \d+ terminated with status 0/);
  }, 120_000);

  it('deterministic: k children exit while SIGCHLD is blocked -> 1 delivery, 1 reaped, k-1 zombies', async () => {
    const r = await runFixture('fork-basics.js', ['coalesceOnce', '6']);
    expect(r.code, r.stderr).toBe(0);
    const helper = JSON.parse(r.stdout.split('\n').find((l) => l.includes('deliveries'))!);
    expect(helper).toEqual({ deliveries: 1, reaped: 1, zombies: 5, k: 6 });
  });

  it('--no-eintr-retry reproduces 3e: a child exits while the parent blocks in accept -> EINTR ends the server', async () => {
    const server = await startServer('concurrent3.js', ['--port', '0', '--no-eintr-retry', '--sleep', '0.5']);
    const r = await exchange(server.port, REQUEST);
    expect(r.data.toString('latin1')).toBe(CANNED);
    const exit = await Promise.race([server.exited, sleep(5000).then(() => null)]);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(server.stderr()).toMatch(/accept EINTR: Interrupted system call/);
    expect(server.stderr()).not.toMatch(/\n\s+at /);
  });

  it('with EINTR retried (3f) the server keeps serving after children exit', async () => {
    const server = await startServer('concurrent3.js', ['--port', '0', '--sleep', '0.3']);
    await exchange(server.port, REQUEST);
    await sleep(800); // the child has exited and interrupted accept()
    const r = await exchange(server.port, REQUEST);
    expect(r.data.toString('latin1')).toBe(CANNED);
    expect(server.stdout()).toMatch(/Child \d+ terminated with status 0/);
  });
});

describe('concurrent-final (3g)', () => {
  it('3 bursts of 128 and ab -n 500 -c 50 leave no zombies and the fd count at its baseline', async () => {
    const server = await startServer('concurrent-final.js', ['--canned', '--port', '0', '--quiet']);
    await exchange(server.port, REQUEST); // warm up: the first fork sets up what later ones reuse
    await sleep(200);
    const baseline = fdCount(server.pid);
    for (let burst = 0; burst < 3; burst++) expect((await client2(server.port, 128, 1)).made).toBe(128);
    const ab = await run('ab', ['-q', '-n', '500', '-c', '50', `http://127.0.0.1:${server.port}/`], 120_000);
    expect(ab.code, ab.stderr).toBe(0);
    expect(ab.stdout).toMatch(/Complete requests:\s+500/);
    expect(ab.stdout).toMatch(/Failed requests:\s+0/);
    const children = await eventually(() => childStates(server.pid), (c) => c.length === 0, 10_000);
    expect(children).toEqual([]);
    expect(await eventually(() => fdCount(server.pid), (n) => n === baseline)).toBe(baseline);
  }, 180_000);

  it.runIf(linux)('EMFILE does not kill it: it pauses accept and serves again once descriptors free up', async () => {
    const server = await startServer('concurrent-final.js', ['--canned', '--port', '0', '--quiet']);
    await exchange(server.port, REQUEST);
    await sleep(200);
    // With the soft limit at the lowest free descriptor number, the next accept() has no slot.
    const used = new Set(fs.readdirSync(`/proc/${server.pid}/fd`).map(Number));
    let open = 0;
    while (used.has(open)) open++;
    const hard = (await run('prlimit', ['--pid', String(server.pid), '--nofile', '--raw', '--noheadings', '--output', 'HARD'])).stdout.trim();
    expect((await run('prlimit', ['--pid', String(server.pid), `--nofile=${open}:${hard}`])).code).toBe(0);
    const pending = exchange(server.port, REQUEST, 10_000);
    await eventually(() => server.stderr(), (e) => e.includes('accept EMFILE'), 3000);
    expect(server.stderr()).toMatch(/accept EMFILE: Too many open files; pausing accept/);
    expect((await run('prlimit', ['--pid', String(server.pid), `--nofile=1024:${hard}`])).code).toBe(0);
    const r = await pending;
    expect(r.data.toString('latin1')).toBe(CANNED);
    expect(server.proc.exitCode).toBeNull();
    expect((await exchange(server.port, REQUEST)).data.toString('latin1')).toBe(CANNED);
  });

  it('SIGTERM stops accepting, waits for the children, exits 0 and leaves none behind', async () => {
    const server = await startServer('concurrent-final.js', ['--canned', '--port', '0', '--sleep', '1', '--quiet']);
    const replies = [1, 2, 3].map(() => exchange(server.port, REQUEST));
    const kids = await eventually(() => childStates(server.pid), (c) => c.length === 3);
    expect(kids).toHaveLength(3);
    server.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    for (const r of await Promise.all(replies)) expect(r.data.toString('latin1')).toBe(CANNED);
    const ps = await run('ps', ['-o', 'pid=', '-p', kids.map((k) => k.pid).join(',')]);
    expect(ps.stdout.trim()).toBe(''); // reaped, not orphaned
    expect(server.stdout()).toMatch(/Stopped after 3 connections\./);
  });

  it('under steady load the loop still runs: children are reaped as they exit and SIGTERM stops it', async () => {
    // Regression: an accept loop that ran until EAGAIN never returned under ab -c 20 (the queue never
    // emptied), so SIGCHLD went unhandled (zombies piled up) and SIGTERM waited for the load to end.
    const server = await startServer('concurrent-final.js', ['--canned', '--port', '0', '--quiet', '--graceful-timeout', '2']);
    const ab = spawn('ab', ['-q', '-t', '30', '-n', '1000000', '-c', '20', `http://127.0.0.1:${server.port}/`], { stdio: 'ignore' });
    try {
      await sleep(1500);
      const zombies = (await childStates(server.pid)).filter((c) => c.stat.startsWith('Z'));
      expect(zombies.length, 'zombies while loaded').toBeLessThan(40);
      expect(ab.exitCode, 'the load is running when SIGTERM comes').toBeNull();
      const t0 = Date.now();
      server.kill('SIGTERM');
      const exit = await Promise.race([server.exited, sleep(8000).then(() => null)]);
      expect(exit, `still running ${Date.now() - t0} ms after SIGTERM under load`).toEqual({ code: 0, signal: null });
    } finally {
      ab.kill('SIGKILL');
    }
  }, 60_000);

  it('children that outlive the grace period are killed and reaped; exit is still 0', async () => {
    const server = await startServer('concurrent-final.js', ['--canned', '--port', '0', '--sleep', '30', '--graceful-timeout', '0.3', '--quiet']);
    const reply = exchange(server.port, REQUEST, 5000);
    await eventually(() => childStates(server.pid), (c) => c.length === 1);
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toMatch(/killed 1 child that outlived the grace period\./);
    expect((await reply).data.toString('latin1')).toBe(CANNED);
  });

  it('a crashing child never takes the parent down; the parent logs its status', async () => {
    const server = await startServer('concurrent-final.js', ['--canned', '--port', '0', '--sleep', '30']);
    const reply = exchange(server.port, REQUEST, 5000);
    const [kid] = await eventually(() => childStates(server.pid), (c) => c.length === 1);
    // Killed before it has read the request, the child's socket would be reset (unread data), not closed.
    await eventually(() => server.stdout(), (o) => o.includes('GET /hello'));
    process.kill(kid.pid, 'SIGSEGV');
    await eventually(() => server.stderr(), (e) => e.includes('SIGSEGV'));
    expect(server.stderr()).toContain(`Child ${kid.pid} was killed by SIGSEGV`);
    await reply;
    expect((await exchange(server.port, REQUEST, 2000)).data.toString('latin1')).toBe(CANNED);
    expect(await zombiesOf(server.pid)).toEqual([]);
  });
});

describe('client2', () => {
  it('--max-clients N --max-conns M really makes N x M connections (counted at the server)', async () => {
    const server = await startServer('concurrent-final.js', ['--canned', '--port', '0']);
    const r = await client2(server.port, 4, 5);
    expect(r).toMatchObject({ made: 20, failed: 0 });
    const served = await eventually(() => server.stdout().match(/GET \/hello HTTP\/1\.1/g)?.length ?? 0, (n) => n === 20);
    expect(served).toBe(20);
  });
});

describe('ps inspector', () => {
  it('lists a server\'s zombie children and its open fd count', async () => {
    const server = await startServer('concurrent.js', ['--port', '0', '--sleep', '0']);
    await exchange(server.port, REQUEST);
    await eventually(() => zombiesOf(server.pid), (z) => z.length === 1);
    const r = await run(process.execPath, [path.join(DIST, 'ps.js'), String(server.pid)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Server ${server.pid}: ${fdCount(server.pid)} open fds, 1 child \\(1 zombie\\)`));
    expect(r.stdout).toMatch(/\d+\s+Z\s+\d+s\s+.*<defunct>/);
  });
});

describe('concurrent-final when fork() fails', () => {
  // RLIMIT_NPROC does not bind root, so the server runs as nobody from a world-readable copy.
  it.runIf(linux && process.getuid?.() === 0)('answers 503 while fork() fails with EAGAIN and serves again afterwards', async () => {
    const dir = copyForNobody();
    try {
      const server = await startServer(path.join(dir, 'dist', 'concurrent-final.js'), ['--canned', '--port', '0', '--quiet'], { runAs: AS_NOBODY });
      // prlimit on another user's process needs matching uids here (no CAP_SYS_RESOURCE assumed).
      const prlimit = (arg: string) => run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'prlimit', '--pid', String(server.pid), arg]);
      expect((await exchange(server.port, REQUEST)).data.toString('latin1')).toBe(CANNED);
      // A limit below the user's task count (threads included): the next fork() is refused. (The
      // count itself is not a safe limit: a task that ends after it was read lets a fork through.)
      // Every thread the server needs exists by now: the first answer forked, which started them.
      expect((await prlimit('--nproc=1:')).code).toBe(0);
      const refused = await exchange(server.port, REQUEST);
      expect(refused.data.toString('latin1')).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect(server.stderr()).toMatch(/fork EAGAIN: Resource temporarily unavailable: answering 503/);
      expect((await prlimit('--nproc=4096:')).code).toBe(0);
      expect((await exchange(server.port, REQUEST)).data.toString('latin1')).toBe(CANNED);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
