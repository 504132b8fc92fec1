// Fork stress with plain `node` (only --expose-gc, for this test's process): no child may hang or
// crash, and the parent must stay healthy. Runs in its own process; never forks the test worker.
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, lastJson, runFixture } from '../helpers/procs';

afterEach(killAll);

interface StressSummary {
  children: number;
  hung: number;
  crashed: number;
  crashes: unknown[];
  forkErrors: number;
  heapMb: number;
  fdsBefore: number;
  fdsAfter: number;
  threadsBefore: number;
  threadsAfter: number;
  parentTimerMs: number;
  busy: Record<string, number> | null;
}

function expectHealthy(s: StressSummary, children: number): void {
  expect(s.children).toBe(children);
  expect(s.hung).toBe(0);
  expect(s.crashed, JSON.stringify(s.crashes)).toBe(0);
  expect(s.forkErrors).toBe(0);
  expect(s.fdsAfter).toBe(s.fdsBefore);
  expect(s.threadsAfter).toBe(s.threadsBefore);
  expect(s.parentTimerMs).toBeLessThan(1000);
}

describe('fork stress', () => {
  it('500 children of a 100 MB parent with churn, each allocating 30 MB and running 5 full GCs', async () => {
    const r = await runFixture(
      'fork-stress.js',
      ['--children', '500', '--concurrency', '4', '--heap-mb', '110', '--child-mb', '30', '--gcs', '5'],
      420_000,
      ['--expose-gc'],
    );
    expect(r.timedOut).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson<StressSummary>(r.stdout);
    expectHealthy(s, 500);
    expect(s.heapMb).toBeGreaterThanOrEqual(100);
  }, 480_000);

  it('200 children while the parent keeps the threadpool busy (pbkdf2, gzip, fs, dns) and children use it too', async () => {
    const r = await runFixture(
      'fork-stress.js',
      ['--children', '200', '--concurrency', '4', '--heap-mb', '30', '--child-mb', '8', '--gcs', '2', '--busy'],
      240_000,
      ['--expose-gc'],
    );
    expect(r.timedOut).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson<StressSummary>(r.stdout);
    expectHealthy(s, 200);
    // The threadpool really was busy across the forks.
    expect(s.busy!.pbkdf2 + s.busy!.gzip + s.busy!.fs + s.busy!.dns).toBeGreaterThan(200);
  }, 300_000);
});
