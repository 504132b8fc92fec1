// What a worker's unexpected death means to the master (issue 26): a boot failure, which halts the
// master when it repeats (an app that cannot run in a worker at all), or a crash, which is logged and
// replaced, never a halt. Before, any unclean death within a second of the fork was a boot failure:
// a fresh worker takes the next request at once, so one bad input repeated (a webhook whose
// JSON.parse throws) stopped `-w 4` for good after 12 POSTs, and so did kill -9 every 0.25 s.
// Pure decisions; the master feeds them what the scoreboard and waitpid say.

import * as os from 'node:os';

/** A worker that dies sooner than this after its fork, having served nothing, died at boot. */
export const BOOT_WINDOW_MS = 1000;

/** Signals by which a process dies of its own fault (a kill -9 or a TERM from outside is not). */
const CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGTRAP', 'SIGSYS'].map((s) => os.constants.signals[s as keyof typeof os.constants.signals]));

export interface DeadWorker {
  exitCode: number | null;
  signal: number | null;
  /** ms from its fork to its death. */
  ageMs: number;
  /** It had started accepting (its postFork hook and the app's loading were done). */
  ready: boolean;
  /** Requests finished, and in flight at its death. */
  requests: number;
  busy: number;
}

/**
 * A boot failure: the worker ended by its own fault (an exit code other than 0, or a crash signal)
 * before it took any request, either before it was ready or within BOOT_WINDOW_MS of its fork (an
 * app whose every forked copy dies at once). `bootErrorCode` (the worker's own "could not load the
 * app or run postFork") is one whenever it comes before the worker took a request.
 */
export function isBootFailure(w: DeadWorker, bootErrorCode: number): boolean {
  const ownFault = (w.exitCode !== null && w.exitCode !== 0) || (w.signal !== null && CRASH_SIGNALS.has(w.signal));
  if (!ownFault || w.requests > 0 || w.busy > 0) return false;
  return w.exitCode === bootErrorCode || !w.ready || w.ageMs < BOOT_WINDOW_MS;
}

/** Crashes within this window count as coming fast. */
export const CRASH_WINDOW_MS = 1000;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2000;

/**
 * The back-off for replacing workers that crash (served, then died): no wait while crashes are
 * fewer than `workers` within CRASH_WINDOW_MS; beyond that each replacement waits, 100 ms doubling
 * up to 2 s, until a window passes without a crash. Workers keep being replaced: a server whose
 * requests crash it stays up for the requests that do not.
 */
export class CrashBackoff {
  private readonly recent: number[] = [];
  private delay = 0;

  constructor(private readonly workers: () => number) {}

  /** A crash at `now`: how long to wait before the next spawn (0: at once). */
  crashed(now: number): number {
    while (this.recent.length > 0 && now - this.recent[0] > CRASH_WINDOW_MS) this.recent.shift();
    if (this.recent.length === 0) this.delay = 0;
    this.recent.push(now);
    if (this.recent.length <= Math.max(1, this.workers())) return 0;
    this.delay = this.delay === 0 ? FIRST_DELAY_MS : Math.min(MAX_DELAY_MS, this.delay * 2);
    return this.delay;
  }
}
