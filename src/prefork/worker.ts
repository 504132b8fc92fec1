// A pre-fork worker: a child forked from the master with the app already loaded. It accepts from
// the shared listeners and serves many connections at once through the gateway (keep-alive,
// pipelining, streaming) on its own event loop, until the master tells it to stop:
//   SIGTERM  graceful: stop accepting, close idle keep-alive connections at once, finish requests
//            in flight with Connection: close, then exit 0 (the master SIGKILLs at its deadline)
//   SIGQUIT  quick: exit now
//   SIGINT   ignored: a terminal's Ctrl-C reaches the whole process group, and the master decides
//   SIGHUP, SIGUSR2, SIGTTIN, SIGTTOU  ignored: the master's signals, which would otherwise end or
//            stop a worker when sent to the whole group (a terminal hang-up, `systemctl kill`
//            without --kill-whom=main). An app's own listeners for them still run.
//   SIGUSR1  reopen the access log (logrotate; the master passes it on); taking it also keeps
//            Node from starting its inspector on it
// A worker whose master is gone (its parent pid changed) stops gracefully by itself; one that has
// served its --max-requests (plus its jitter) too, and the master replaces it. Its scoreboard slot
// gets a tick from the event loop and the request it is in.

import { drainConnections, type RequestObserver } from '../gateway';
import {
  FdWatcher, SIGTERM, SOCK_CLOEXEC, UV_READABLE, accept, leaveChild, close, getppid, isErrno, setParentDeathSignal,
  type SocketAddress,
} from '../posix';
import { ACCEPT_RETRY_DELAY_MS, EXHAUSTION_CODES } from '../server/accept';
import { plural, say, warn } from '../server/log';
import { afterAppWork, resourcesNow } from '../server/pending-work';
import type { AccessLog } from './access-log';
import type { Scoreboard } from './scoreboard';

/** Connections accepted per wake-up of a listener, before the event loop runs again. */
const ACCEPT_BURST = 16;
/**
 * Balance: a worker with more than this many connections beyond the least loaded accepting worker
 * leaves the next connection to the others (all workers wake for each one; the first to accept()
 * wins, so a burst of connections opened at once went to one worker: 6 of 15 bursts of 20 in
 * bench/prefork.js). It looks again after BALANCE_PAUSE_MS.
 */
const BALANCE_SLACK = 1;
const BALANCE_PAUSE_MS = 1;
/** A worker whose tick is older than this is not counted when balancing (it may be stuck). */
const BALANCE_FRESH_MS = 1000;
/** Signals meant for the master that a worker takes and does nothing with. */
const MASTER_SIGNALS = ['SIGINT', 'SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU'] as const;
const ignore = (): void => {};

/**
 * In a worker just forked, before the master's own listeners are removed: a listener that does
 * nothing for each of the master's signals. Taken over while the master's handler is still in place,
 * there is no instant at which one of them, sent to the whole group, would find the default action
 * (end the process, or stop it). A listener rather than SIG_IGN: libuv resets a signal to its
 * default when its last listener goes, and an app's own listeners keep working.
 */
export function ignoreMasterSignals(): void {
  for (const name of MASTER_SIGNALS) process.on(name, ignore);
}
/** How often a worker checks that its master is still there (where no death signal exists). */
const MASTER_CHECK_MS = 500;

export type Serve = (fd: number, peer: SocketAddress) => Promise<void>;

export interface WorkerOptions {
  listenFds: number[];
  /** The connection server, given what it must tell about each request. */
  makeServe: (observer: RequestObserver) => Serve;
  masterPid: number;
  scoreboard: Scoreboard;
  slot: number;
  /** Ticks into the scoreboard this often. */
  tickMs: number;
  /** Stop gracefully after this many requests (0: never). */
  maxRequests: number;
  /** SIGTERM/SIGQUIT/SIGUSR1 that arrived between the fork and now (handled once the worker's handlers are in place). */
  earlySignals?: readonly string[];
  /** A line per answered request (--access-log); inherited open from the master. */
  accessLog?: AccessLog;
  /** At this many open connections the worker stops accepting until one closes (--worker-connections). */
  maxConnections?: number;
  /**
   * Once stopping, the worker leaves after this long even with connections open (--graceful-timeout):
   * the master would kill it then, but a worker whose master is gone, or that recycles itself
   * (--max-requests), has nobody else to end a hung request.
   */
  gracefulTimeoutMs?: number;
}

export function runWorker({ listenFds, makeServe, masterPid, scoreboard, slot, tickMs, maxRequests, earlySignals = [], accessLog, maxConnections = Infinity, gracefulTimeoutMs = 30_000 }: WorkerOptions): void {
  let open = 0;
  /** At maxConnections: every listener's watcher stopped until a connection closes. */
  let full = false;
  /** What the worker has before it serves (the master's, postFork's): not work to wait for at its stop. */
  const appBase = resourcesNow();
  let stoppedAt = 0;
  let waitingForApp = false;
  process.on('exit', () => accessLog?.flush()); // this worker's own exit listener: runs in leaveChild
  let stopping = false;
  let served = 0;
  const watchers: FdWatcher[] = [];
  const serve = makeServe({
    outcomes: accessLog !== undefined,
    requestStarted: (head) => scoreboard.requestStarted(slot, head.method, head.target),
    answeredWithoutRequest: (outcome) => accessLog?.log(outcome),
    requestFinished: (outcome) => {
      if (outcome) accessLog?.log(outcome);
      scoreboard.requestFinished(slot);
      if (++served === maxRequests && !stopping) {
        say(`Worker ${process.pid} served its ${plural(maxRequests, 'request', 'requests')} (--max-requests): restarting`);
        scoreboard.leaving(slot); // so the master expects this exit
        stopGracefully();
      }
    },
  });
  scoreboard.tick(slot);
  setInterval(() => scoreboard.tick(slot), tickMs).unref();
  scoreboard.accepting(slot, true);

  for (const fd of listenFds) {
    const watcher = new FdWatcher(fd, (status) => {
      if (status >= 0 && !stopping) acceptFrom(fd, watcher);
    }).start(UV_READABLE);
    watchers.push(watcher);
  }

  function acceptFrom(fd: number, watcher: FdWatcher): void {
    for (let n = 0; n < ACCEPT_BURST && !stopping; n++) {
      if (open >= maxConnections) {
        full = true;
        for (const w of watchers) w.stop();
        return;
      }
      if (open > scoreboard.leastOpen(BALANCE_FRESH_MS) + BALANCE_SLACK) {
        watcher.stop();
        setTimeout(() => {
          if (!stopping) watcher.start(UV_READABLE);
        }, BALANCE_PAUSE_MS);
        return;
      }
      let client: SocketAddress & { fd: number };
      try {
        client = accept(fd, SOCK_CLOEXEC);
      } catch (err) {
        // EAGAIN: another worker took it (or the queue is empty).
        if (isErrno(err, 'EAGAIN', 'EWOULDBLOCK', 'ECONNABORTED', 'EINTR')) return;
        if (isErrno(err, ...EXHAUSTION_CODES)) {
          warn(`worker ${process.pid}: ${(err as Error).message}; pausing accept for ${ACCEPT_RETRY_DELAY_MS} ms`);
          watcher.stop();
          setTimeout(() => {
            if (!stopping) watcher.start(UV_READABLE);
          }, ACCEPT_RETRY_DELAY_MS);
          return;
        }
        throw err;
      }
      open++;
      scoreboard.opened(slot, 1);
      void serve(client.fd, client).finally(() => {
        open--;
        scoreboard.opened(slot, -1);
        if (stopping && open === 0) leaveWhenAppIdle();
        if (full && !stopping && open < maxConnections) {
          full = false;
          for (const w of watchers) w.start(UV_READABLE);
        }
      });
    }
  }

  function stopGracefully(): void {
    if (stopping) return;
    stopping = true;
    scoreboard.accepting(slot, false);
    for (const w of watchers) w.close();
    for (const fd of listenFds) close(fd);
    stoppedAt = Date.now();
    drainConnections();
    if (open === 0) leaveWhenAppIdle();
    setTimeout(() => {
      if (open > 0) warn(`Worker ${process.pid}: ${plural(open, 'connection', 'connections')} still open after the graceful timeout (${gracefulTimeoutMs / 1000} s): leaving`);
      leave();
    }, gracefulTimeoutMs).unref();
  }

  /** Exits now, after writing out the access log lines held (_exit() would drop them). */
  function leave(): never {
    accessLog?.flush();
    return leaveChild(0);
  }

  /**
   * Leaves once the app's own work started while serving is done (a timer, a write, an outgoing
   * request: pending-work.ts), at the latest at the graceful timeout. (If the event loop runs dry
   * first, posix.ts leaves; the access log is written out by the exit listener below.)
   */
  function leaveWhenAppIdle(): void {
    if (waitingForApp) return;
    waitingForApp = true;
    const limitMs = Math.max(0, stoppedAt + gracefulTimeoutMs - Date.now());
    afterAppWork(appBase, limitMs, (left) => {
      if (left.length > 0) warn(`Worker ${process.pid}: left with the app's work unfinished at the graceful timeout: ${left.join(', ')}`);
      leave();
    });
  }

  process.on('SIGTERM', stopGracefully);
  process.on('SIGQUIT', leave);
  // Always taken, log or not: the master passes SIGUSR1 on to every worker.
  process.on('SIGUSR1', () => accessLog?.reopen());
  // The master's death: SIGTERM from the kernel on Linux, a look at the parent pid everywhere.
  if (process.platform === 'linux') setParentDeathSignal(SIGTERM);
  const masterCheck = setInterval(() => {
    if (getppid() !== masterPid) stopGracefully();
  }, MASTER_CHECK_MS);
  masterCheck.unref();
  if (getppid() !== masterPid) stopGracefully(); // it died before the death signal was set
  if (earlySignals.includes('SIGQUIT')) leave();
  if (earlySignals.includes('SIGUSR1')) accessLog?.reopen();
  if (earlySignals.includes('SIGTERM')) stopGracefully();
}
