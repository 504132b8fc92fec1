// The child side of a fork-per-connection server: close the listener copy, serve the one client,
// close it, leave through _exit(). Any failure is reported and ends only this child.

import * as fs from 'node:fs';
import { _exit, close, getpid, getppid, leaveChild } from '../posix';
import { say, warn } from './log';
import { afterAppWork, type Resources } from './pending-work';

export interface ChildOptions {
  listenFd: number;
  clientFd: number;
  /** Serves the client (the fd stays open; runChild closes it). */
  handle: (fd: number) => void;
  /** Seconds to sleep after serving, before closing (the tutorial's time.sleep). */
  sleepMs?: number;
  /** Print "Child PID: <pid>. Parent PID <ppid>" first, as webserver3c/3d do. */
  banner?: boolean;
}

/** Blocks the thread for `ms` (the tutorial's time.sleep). (Parenthesised: see runChildAsync.) */
export const sleepMs = (function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
});

/**
 * runChild for a handler that finishes later (an app on the event loop): returns at once; the
 * child closes the client and leaves through _exit() when the handler's promise settles. The
 * caller must return to the event loop without doing the parent's work. (Parenthesised: compiled
 * at load time, in the parent, as the other child-only functions: see initChild in posix.ts.)
 */
export const runChildAsync = (function runChildAsync({
  listenFd,
  clientFd,
  handle,
  sleepMs: pause = 0,
  appWork,
}: Omit<ChildOptions, 'handle' | 'banner'> & {
  handle: (fd: number) => void | Promise<void>;
  /** Once served, wait up to limitMs for the app's work beyond `base` (pending-work.ts) before leaving. */
  appWork?: { base: Resources; limitMs: number };
}): void {
  // The client's socket, to tell it from a descriptor the app opened later under the same number
  // once the handler has closed it (a child that waits for the app's work must not close that).
  let clientIno = -1;
  try {
    clientIno = fs.fstatSync(clientFd).ino;
  } catch {
    /* (closed already: nothing to close later) */
  }
  // Parenthesised too: a function inside one is compiled with it, an arrow function is not.
  const leave = (function leave(code: number): void {
    sleepMs(pause);
    try {
      if (fs.fstatSync(clientFd).ino === clientIno) close(clientFd);
    } catch {
      /* the handler closed it */
    }
    if (!appWork) return leaveChild(code);
    process.exitCode = code; // also the code if the loop runs dry first (nothing left: posix.ts leaves)
    afterAppWork(appWork.base, appWork.limitMs, (left) => {
      if (left.length > 0) warn(`Child ${getpid()} left with the app's work unfinished after ${appWork.limitMs / 1000} s (--graceful-timeout): ${left.join(', ')}`);
      leaveChild(code);
    });
  });
  try {
    close(listenFd);
  } catch (err) {
    warn(`child ${getpid()}: ${(err as Error).message}`);
    leave(1);
    return;
  }
  serveFromMicrotask(clientFd, handle, leave);
});

/**
 * Calls handle(fd) from a microtask, so that the fork() call that made this child unwinds first
 * (the accept loop sees the flag), then done(0) once it settles, or done(1) after reporting its
 * failure. A forking parent also runs it once, with a handler that does nothing, before its first
 * fork: children inherit this code and the promise jobs compiled (issue 17). A promise job rather
 * than queueMicrotask(), which builds an AsyncResource each call: a dozen more functions in every
 * child, each writing its type feedback into a page shared with the parent.
 */
export function serveFromMicrotask(fd: number, handle: (fd: number) => void | Promise<void>, done: (code: number) => void): void {
  Promise.resolve(fd)
    .then(handle)
    .then(
      () => done(0),
      (err: unknown) => {
        warn(`child ${getpid()}: ${(err as Error)?.message ?? String(err)}`);
        done(1);
      },
    );
}

export function runChild({ listenFd, clientFd, handle, sleepMs: pause = 0, banner = false }: ChildOptions): never {
  let code = 0;
  try {
    close(listenFd); // the child's copy: the parent keeps listening on its own
    if (banner) say(`Child PID: ${getpid()}. Parent PID ${getppid()}`);
    handle(clientFd);
    sleepMs(pause);
  } catch (err) {
    warn(`child ${getpid()}: ${(err as Error).message}`);
    code = 1;
  } finally {
    try {
      close(clientFd);
    } catch {
      /* already gone */
    }
  }
  return _exit(code);
}
