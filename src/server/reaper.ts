// Reaping children: the tutorial's three policies behind one switch.
//   none  - no handler: finished children stay zombies (webserver3c/3d)
//   once  - one wait per delivered SIGCHLD (webserver3e/3f): signals coalesce, zombies remain
//   loop  - waitpid(-1, WNOHANG) until 0 or ECHILD per SIGCHLD (webserver3g): no zombies
// The handler runs once per kernel delivery, from the event loop or from dispatchSignals() after
// each return from a blocking accept().

import * as os from 'node:os';
import { SIGCHLD, WNOHANG, isErrno, sigaction, waitpid, type WaitResult } from '../posix';

export type ReapPolicy = 'none' | 'once' | 'loop';
export const REAP_POLICIES: readonly ReapPolicy[] = ['none', 'once', 'loop'];

export type ChildExit = WaitResult;

/** One waitpid(-1, WNOHANG): the child that exited, or null when none has (or none exist). */
export function reapOne(): ChildExit | null {
  try {
    const r = waitpid(-1, WNOHANG);
    return r.pid === 0 ? null : r;
  } catch (err) {
    if (isErrno(err, 'ECHILD')) return null;
    throw err;
  }
}

/** waitpid(-1, WNOHANG) until 0 or ECHILD: every child that has exited. */
export function reapAll(): ChildExit[] {
  const exits: ChildExit[] = [];
  for (let e = reapOne(); e !== null; e = reapOne()) exits.push(e);
  return exits;
}

export interface ReaperOptions {
  /** SA_RESTART on the handler (false lets a blocking accept() fail with EINTR). */
  restart: boolean;
  onExit: (exit: ChildExit) => void;
}

/** Installs the SIGCHLD handler for `policy` ('none' leaves the default: zombies). */
export function installReaper(policy: ReapPolicy, { restart, onExit }: ReaperOptions): void {
  if (policy === 'none') return;
  sigaction(
    SIGCHLD,
    policy === 'once'
      ? () => {
          const e = reapOne();
          if (e) onExit(e);
        }
      : () => {
          for (const e of reapAll()) onExit(e);
        },
    { restart },
  );
}

// The first name wins where numbers have aliases (SIGABRT before SIGIOT, SIGCHLD before SIGCLD).
const signalNames = new Map<number, string>();
for (const [name, n] of Object.entries(os.constants.signals)) if (!signalNames.has(n)) signalNames.set(n, name);

export function signalName(signo: number): string {
  return signalNames.get(signo) ?? `signal ${signo}`;
}

/** "exited with code 0" / "was killed by SIGSEGV" / "was reaped by someone else" (status lost). */
export function describeExit(e: ChildExit): string {
  if (e.signal !== null) return `was killed by ${signalName(e.signal)}`;
  return e.exitCode === null ? 'was reaped by someone else (a waitpid(-1) in this process?)' : `exited with code ${e.exitCode}`;
}

export function isCleanExit(e: ChildExit): boolean {
  return e.signal === null && e.exitCode === 0;
}
