// Fork safety for children that live (a pre-fork worker is one). A forked child that holds idle
// keep-alive connections must sleep, not spin: before the fix, children of an Express server forked
// in its first seconds went to 100% CPU 8-16 s after the server started (the memory reducer's major
// GC left cppgc's sweeping job to worker threads that do not exist in a child, and its incremental
// sweeping task re-posted itself at once, forever). And a child serving for a minute must cost what
// the same code costs in a process that never forked. Servers run as throw-away processes; CPU time
// is read from /proc/<pid>/stat.
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, childStates, cpuMs, killAll, lastJson, run, sleep, startServer } from '../helpers/procs';

// The two tests run at once (one mostly sleeps, the other is a 60 s load), so nothing is killed
// between them.
afterAll(killAll);

const linux = process.platform === 'linux';
const EXPRESS = path.join(ROOT, 'examples', 'express', 'app.js');
const REQUEST = 'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n';
const BODY = 'Hello world from Express!';

/** One keep-alive connection that sends GET /hello and waits for the whole answer, on demand. */
async function keepAliveClient(port: number): Promise<{ ask: () => Promise<string>; close: () => void }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffered = '';
  let waiting: ((text: string) => void) | null = null;
  socket.setEncoding('latin1').on('data', (d: string) => {
    buffered += d;
    if (waiting && buffered.endsWith(BODY)) {
      const text = buffered;
      buffered = '';
      waiting(text);
      waiting = null;
    }
  });
  socket.on('error', () => {});
  return {
    ask: () =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer in 10 s; got ${JSON.stringify(buffered)}`)), 10_000);
        waiting = (text) => {
          clearTimeout(timer);
          resolve(text);
        };
        socket.write(REQUEST);
      }),
    close: () => socket.destroy(),
  };
}

describe.runIf(linux).concurrent('children that live', () => {
  it('children of a just-started Express server, holding keep-alive connections 30 s with a request every 5 s, stay under 2% CPU', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--quiet', '--keep-alive-timeout', '60', `${EXPRESS}:app`]);
    const clients = await Promise.all([0, 1, 2].map(() => keepAliveClient(server.port)));
    for (const c of clients) expect(await c.ask()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const children = (await childStates(server.pid)).map((c) => c.pid);
    expect(children, 'one child per connection').toHaveLength(3);
    const before = children.map(cpuMs);
    const t0 = Date.now();
    for (let round = 0; round < 6; round++) {
      await sleep(5000);
      for (const c of clients) expect(await c.ask()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    }
    const elapsed = Date.now() - t0;
    const used = children.map((pid, i) => cpuMs(pid) - before[i]);
    const report = children.map((pid, i) => `child ${pid}: ${used[i]} ms of CPU in ${elapsed} ms (${((100 * used[i]) / elapsed).toFixed(2)}%)`);
    console.log(report.join('\n'));
    for (const [i, ms] of used.entries()) expect(ms / elapsed, report[i]).toBeLessThan(0.02);
    for (const c of clients) c.close();
  }, 90_000);

  it('a forked child serving an allocation-heavy route for 60 s costs what a spawned process does: CPU and GC time within 1.5x, RSS growing no more than the spawned one, its hot function optimized', async () => {
    // bench/long-child.js: one server child forked with posix.fork() (or, --no-fork, the same code in
    // a spawned node), 500 req/s on 4 keep-alive connections, 32 KB allocated per request with a
    // 32 MB retained ring. Both run at once, so a loaded machine weighs on both alike.
    // Both without V8's allocation-site pretenuring (the spawned control gets the parent's flags,
    // as the forked child has them). For this route V8 decides once, early, whether to allocate the
    // retained objects in the old generation, and the decision is lost for good if a mark-compact
    // comes during the second or so in which V8 gathers its evidence: then the process does twice
    // the scavenges for the rest of its life. Where the mark-compacts fall depends on how the heap
    // started: a spawned control holding 1.6 MB more at start lost it too (74 scavenges in 25 s
    // against 39, Node 20), so two processes with different starts cannot be held to 1.5x on it.
    // Without it both do the same work, and what fork changes (heap sizing inherited from the
    // parent, V8's background threads in the child) is what the ratios below measure.
    const longChild = (extra: string[]) =>
      run(
        process.execPath,
        ['--no-allocation-site-pretenuring', path.join(ROOT, 'bench', 'long-child.js'), '--seconds', '60', '--sample-seconds', '2', '--json', ...extra],
        180_000,
      );
    const [forked, spawned] = await Promise.all([longChild([]), longChild(['--no-fork'])]);
    interface LongChild {
      healthy: boolean;
      reasons: string[];
      requests: { ok: number; failed: number };
      cpu: { ms: number; perRequestMs: number };
      gc: { count: number; totalMs: number };
      rssGrowthSecondHalfMb: number;
      allocateOptimized: boolean;
      childPool: { active: boolean; threads: number; posted: number; ran: number; queued: number } | null;
    }
    expect(forked.code, forked.stderr).toBe(0);
    expect(spawned.code, spawned.stderr).toBe(0);
    const f = lastJson<LongChild>(forked.stdout);
    const c = lastJson<LongChild>(spawned.stdout);
    const cpuRatio = f.cpu.perRequestMs / c.cpu.perRequestMs;
    const gcRatio = f.gc.totalMs / c.gc.totalMs;
    const seen =
      `forked: ${f.requests.ok} requests, CPU ${f.cpu.perRequestMs} ms/request, ${f.gc.count} GCs ${f.gc.totalMs} ms, RSS growth ${f.rssGrowthSecondHalfMb} MB, ` +
      `optimized ${f.allocateOptimized}, pool ${JSON.stringify(f.childPool)}; spawned: ${c.requests.ok} requests, CPU ${c.cpu.perRequestMs} ms/request, ` +
      `${c.gc.count} GCs ${c.gc.totalMs} ms, RSS growth ${c.rssGrowthSecondHalfMb} MB; ratios: CPU per request ${cpuRatio.toFixed(2)}, GC time ${gcRatio.toFixed(2)}`;
    console.log(seen);
    // Every request answered and each server alive until stopped (long-child.js's reasons, in the
    // message). Its RSS verdict (troughs of the last third against the middle third) is judged here
    // against the control instead: the spawned process alone once grew 19.7 MB in a CI run (the heap
    // settling to its size under a loaded machine), and on Node 26 a forked child once grew 20.2 MB
    // where its control shrank 38.8 MB (V8 sizing the young generation anew; the next two thirds
    // of a run decide nothing about a leak). A leak is what this is for: the route allocates 32 KB
    // per request at 500 req/s, so keeping as little as 4 KB of each adds over 40 MB in the 20 s
    // between the two thirds. The forked child may grow no more than the spawned one did, plus 40 MB.
    const notRss = (reasons: string[]) => reasons.filter((r) => !r.startsWith('RSS troughs grew'));
    const why = `${seen}; forked reasons: ${JSON.stringify(f.reasons)}; spawned reasons: ${JSON.stringify(c.reasons)}`;
    expect(notRss(f.reasons), why).toEqual([]);
    expect(notRss(c.reasons), why).toEqual([]);
    expect(f.rssGrowthSecondHalfMb, why).toBeLessThanOrEqual(Math.max(0, c.rssGrowthSecondHalfMb) + 40);
    expect(f.allocateOptimized, seen).toBe(true);
    expect(f.childPool, seen).toMatchObject({ active: true });
    expect(f.childPool!.queued, `the pool's queue stays short | ${seen}`).toBeLessThan(100);
    expect(cpuRatio, seen).toBeLessThan(1.5);
    expect(gcRatio, seen).toBeLessThan(1.5);
  }, 240_000);
});
