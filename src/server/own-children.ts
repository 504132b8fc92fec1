// Reaping only our own children, in a process that may also run child_process children (an app's
// helpers, a TypeScript loader's compiler service).
//
// SIGCHLD comes through libuv (process.on('SIGCHLD')), next to libuv's own watcher for
// child_process, so neither replaces the other's handler. On each delivery we look before we take:
// waitid(WNOWAIT) names an exited child without reaping it; ours is reaped by pid, anyone else's is
// left for libuv, which reaps its own by pid on the same delivery. So a SIGCHLD for a child we do
// not own costs one look (none at all while we have no children). Should someone else's zombie
// still be there a loop turn later (not libuv's), or where waitid cannot name the child (macOS), we
// ask for each of our pids instead, as libuv does for its own.
//
// The tutorial's stages keep their raw sigaction + waitpid(-1) (reaper.ts): that is their lesson.

import { WNOHANG, isErrno, waitidExited, waitpid } from '../posix';
import type { ChildExit } from './reaper';

const PEEK_WORKS = process.platform === 'linux';

export class OwnChildren {
  private readonly pids = new Set<number>();
  /** Someone else's exited child seen at the last look (0: none). */
  private foreign = 0;
  private retry: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(private readonly onExit: (exit: ChildExit) => void) {
    process.on('SIGCHLD', this.reap);
  }

  get size(): number {
    return this.pids.size;
  }

  [Symbol.iterator](): IterableIterator<number> {
    return this.pids.values();
  }

  /** A child we forked: from now on its exit is ours to reap. */
  add(pid: number): void {
    this.pids.add(pid);
  }

  /** Reaps every child of ours that has exited. Runs on SIGCHLD; callable any time. */
  readonly reap = (): void => {
    while (this.pids.size > 0) {
      if (!PEEK_WORKS) {
        this.scan();
        return;
      }
      const pid = waitidExited();
      if (pid <= 0) return; // nobody has exited (or no children at all)
      if (this.pids.has(pid)) {
        this.take(pid);
        continue;
      }
      // Someone else's: libuv reaps its own on this same delivery, so look again after it has.
      // Still there then: not libuv's, and it hides ours from the look; ask by pid.
      if (pid !== this.foreign) {
        this.foreign = pid;
        this.retry ??= setImmediate(() => {
          this.retry = undefined;
          if (!this.closed) this.reap();
        });
      } else {
        this.scan();
      }
      return;
    }
  };

  /** Stops listening (a forked child calls it: the parent's children are not its own). */
  close(): void {
    this.closed = true;
    process.removeListener('SIGCHLD', this.reap);
    if (this.retry) clearImmediate(this.retry);
    this.retry = undefined;
  }

  private scan(): void {
    for (const pid of [...this.pids]) this.take(pid);
  }

  private take(pid: number): void {
    let exit: ChildExit;
    try {
      exit = waitpid(pid, WNOHANG);
    } catch (err) {
      if (!isErrno(err, 'ECHILD')) throw err;
      // Reaped by someone else (a waitpid(-1) in this process): its exit status is lost.
      exit = { pid, status: 0, exitCode: null, signal: null, stopped: false };
    }
    if (exit.pid !== pid) return; // still running
    this.pids.delete(pid);
    this.onExit(exit);
  }
}
