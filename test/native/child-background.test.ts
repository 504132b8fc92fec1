// V8's background work in a forked child. Node's V8 platform threads do not exist in a child, and V8
// keeps posting work for them (concurrent compile jobs, GC sweeping, array buffer freeing): fork.cc
// routes those posts to a pool of threads the child starts for itself. Each scenario runs in a forked
// child and, as the control, in a process that never forked (test/fixtures/child-background.js).
import { describe, expect, it } from 'vitest';
import { lastJson, runFixture } from '../helpers/procs';

interface PoolInfo {
  inChild: boolean;
  childPoolActive: boolean;
  childPoolQueued?: number;
}

async function scenario<T>(name: string, nodeFlags: string[] = []): Promise<{ child: T; control: T }> {
  const [child, control] = await Promise.all(
    ['', '--no-fork'].map(async (mode) => {
      const r = await runFixture('child-background.js', mode ? [name, mode] : [name], 60_000, nodeFlags);
      expect(r.code, `${name} ${mode || 'forked'}: ${r.stderr}`).toBe(0);
      return lastJson<T>(r.stdout);
    }),
  );
  console.log(`${name}: child ${JSON.stringify({ ...child, info: undefined })}, control ${JSON.stringify({ ...control, info: undefined })}`);
  return { child, control };
}

describe("V8's background work in a forked child", () => {
  it('an idle child after a major GC sleeps (cppgc sweeping finishes on the child\'s own threads)', async () => {
    const { child, control } = await scenario<{ idleCpuMs: number; info: PoolInfo }>('idleAfterGc');
    expect(child.info).toMatchObject({ inChild: true, childPoolActive: true });
    // Spinning, the child used 900-1000 ms of CPU in this idle second; control and fixed child: 0-2.
    expect(child.idleCpuMs).toBeLessThan(control.idleCpuMs + 200);
  });

  it('freed ArrayBuffers are released as in a process that never forked', async () => {
    const { child, control } = await scenario<{ peakArrayBuffersMb: number; info: PoolInfo }>('arrayBuffers');
    // 2 GB of 1 MB Buffers, each dropped at once. The peak is the control's within V8's own variance
    // (Node 20: 32 MB in both; 24 and 26: 109-220 MB, varying run to run in either process, so that
    // a control at 109 and a child at 220 came in one CI run); without the child's threads the
    // buffers were freed one GC late: 96 MB on Node 20, 511 MB on 24. Hence, from Node 22 on, any
    // peak under 300 MB passes too: still well below the broken 511.
    const ceiling = Number(process.versions.node.split('.')[0]) >= 22 ? 300 : 0;
    expect(child.peakArrayBuffersMb).toBeLessThan(Math.max(control.peakArrayBuffersMb * 1.6 + 20, ceiling));
    expect(child.info.childPoolQueued, 'nothing left waiting in the pool').toBeLessThan(100);
  });

  it('a child with its pool running forks grandchildren: none hangs, each gets a pool of its own and sleeps after its GC', async () => {
    const r = await runFixture('child-background.js', ['grandchildren'], 300_000);
    expect(r.code, r.stderr).toBe(0);
    const o = lastJson<{ results: { status: { exitCode: number | null; signal: number | null; hung?: boolean }; report: { idleCpuMs: number; pool: boolean } | null }[]; info: PoolInfo & { barrierTimeouts: number } }>(r.stdout);
    const seen = JSON.stringify(o.results);
    expect(o.info).toMatchObject({ inChild: true, childPoolActive: true, barrierTimeouts: 0 });
    expect(o.results, seen).toHaveLength(10);
    for (const g of o.results) {
      expect(g.status, seen).toMatchObject({ exitCode: 0, signal: null });
      expect(g.report, seen).toMatchObject({ pool: true });
      expect(g.report!.idleCpuMs, seen).toBeLessThan(200); // 500 ms idle: spinning would use ~500
    }
  }, 330_000);

  it("the self-check's routing probe does not take V8 work away from a worker_threads Worker posting meanwhile", async () => {
    // 2000 self-checks, each swapping the platform's vtable for a moment, while a Worker frees
    // ArrayBuffers: before the hooks forwarded other threads' posts to Node, V8 aborted in 3 of 4 runs.
    const r = await runFixture('child-background.js', ['probeWithWorker'], 120_000);
    expect(r.signal, r.stderr.slice(-1500)).toBeNull();
    expect(r.code, r.stderr.slice(-1500)).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ checks: 2000, failed: 0 });
  }, 150_000);

  it('a hot function in a child gets optimized (concurrent compile jobs run)', async () => {
    const { child, control } = await scenario<{ optimized: boolean }>('hotFunction', ['--allow-natives-syntax']);
    expect(control.optimized).toBe(true);
    expect(child.optimized).toBe(true);
  });
});
