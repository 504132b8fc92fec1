// The master's reading of a worker's death (src/prefork/worker-deaths.ts): boot failure or crash,
// and the back-off for crashes that come fast. Pure decisions, in-process.
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { BOOT_WINDOW_MS, CrashBackoff, isBootFailure, type DeadWorker } from '../../src/prefork/worker-deaths';

const SIG = os.constants.signals;
const BOOT_ERROR = 3;
const fresh: DeadWorker = { exitCode: 1, signal: null, ageMs: 50, ready: true, requests: 0, busy: 0 };

describe('isBootFailure', () => {
  it('a worker that dies by its own fault before taking a request, soon after its fork or before it was ready', () => {
    expect(isBootFailure(fresh, BOOT_ERROR)).toBe(true);
    expect(isBootFailure({ ...fresh, exitCode: null, signal: SIG.SIGABRT }, BOOT_ERROR)).toBe(true);
    expect(isBootFailure({ ...fresh, ageMs: 5000, ready: false }, BOOT_ERROR), 'a slow load (--no-preload) that fails').toBe(true);
    expect(isBootFailure({ ...fresh, ageMs: 5000, exitCode: BOOT_ERROR }, BOOT_ERROR), 'the boot-error code').toBe(true);
  });

  it('not one that took a request (the crashing webhook), was killed from outside, exited cleanly, or lived past the window', () => {
    expect(isBootFailure({ ...fresh, busy: 1 }, BOOT_ERROR), 'crashed in its first request').toBe(false);
    expect(isBootFailure({ ...fresh, requests: 1 }, BOOT_ERROR), 'a throw in a timer after a request').toBe(false);
    expect(isBootFailure({ ...fresh, exitCode: null, signal: SIG.SIGKILL }, BOOT_ERROR), 'kill -9, the OOM killer').toBe(false);
    expect(isBootFailure({ ...fresh, exitCode: null, signal: SIG.SIGTERM }, BOOT_ERROR)).toBe(false);
    expect(isBootFailure({ ...fresh, exitCode: 0 }, BOOT_ERROR)).toBe(false);
    expect(isBootFailure({ ...fresh, ageMs: BOOT_WINDOW_MS + 1 }, BOOT_ERROR), 'ready, and idle past the window').toBe(false);
    expect(isBootFailure({ ...fresh, exitCode: BOOT_ERROR, requests: 3 }, BOOT_ERROR), 'the app exits 3 after serving').toBe(false);
  });
});

describe('CrashBackoff', () => {
  it('no wait up to one crash per worker within a second; then 100 ms doubling to 2 s; back to none after a quiet second', () => {
    const b = new CrashBackoff(() => 2);
    expect([b.crashed(0), b.crashed(10)]).toEqual([0, 0]);
    expect([20, 30, 40, 50, 60, 70, 80].map((t) => b.crashed(t))).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
    expect(b.crashed(2000), 'a second without a crash').toBe(0);
    expect(b.crashed(2100)).toBe(0);
    expect(b.crashed(2200)).toBe(100);
  });

  it('counts only the last second of crashes, against the current number of workers', () => {
    let workers = 1;
    const b = new CrashBackoff(() => workers);
    expect(b.crashed(0)).toBe(0);
    expect(b.crashed(600)).toBe(100);
    expect(b.crashed(1500), 'the crash at 0 has left the window').toBe(200);
    workers = 4;
    expect(b.crashed(1600)).toBe(0);
  });
});
