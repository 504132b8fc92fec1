// Fork per connection driven by the event loop: the final server (webserver3g) made robust.
// The listener is non-blocking and watched with uv_poll; SIGCHLD wakes the loop and the reaper takes
// every exited child of ours, so no zombie survives a burst and no EINTR handling is needed. It reaps
// by pid (own-children.ts), so the app may use child_process in this process too. Out of
// descriptors: log, stop watching for a short pause, retry (no busy loop). Fork refused: answer 503
// and keep serving.
//
// Children are bounded (maxChildren): at the cap the parent stops accepting, so connections wait in
// the kernel's backlog, and it accepts again as children exit. A connection whose request has not
// started to arrive when it is accepted waits in the parent (a uv_poll on it, no child) until its
// first byte, or gets 408 at the first-byte timeout: a flood of idle connections costs descriptors
// in the parent, not children, and a normal client behind it is served at once (bench/flood.js).
//
// Stopping (SIGTERM, or SIGINT: Ctrl-C reaches the whole process group): the parent stops accepting
// and tells the children through the stop pipe (it closes the pipe's only write end left, so every
// child's read end hangs up; also when the parent dies). A child finishes the request in progress
// with Connection: close and closes an idle keep-alive connection at once; children ignore SIGINT,
// so the terminal's Ctrl-C does not cut their responses. The parent waits up to the graceful
// timeout, then SIGKILLs what is left; a second TERM/INT does that at once.

import {
  AF_INET, FdWatcher, MSG_DONTWAIT, MSG_PEEK, POLLIN, PosixError, SHUT_WR, SIGINT, SIGKILL, SOCK_CLOEXEC, SOCK_STREAM, UV_READABLE, accept, close, connect,
  afterInheritedConnectionsEnd, fork, forkRefusalCause, inheritedConnections, isErrno, isForkRefusal, kill, pipe, poll, prepareFork, recv, sendall, setCloseOnExec, sigaction, socket, withForkBarrier,
  setNonBlocking, shutdown, type SocketAddress,
} from '../posix';
import { describeInheritedConnections } from '../fork-hazards';
import { EXHAUSTION_CODES, ACCEPT_RETRY_DELAY_MS } from './accept';
import { runChildAsync, serveFromMicrotask } from './child';
import { createListener, type Listener } from './listener';
import { plural, say, warn } from './log';
import { OwnChildren } from './own-children';
import { describeExit, isCleanExit, type ChildExit } from './reaper';
import { resourcesNow } from './pending-work';
import { sentByItself, watchSelfSignals } from './self-signals';

export const GRACEFUL_TIMEOUT_MS = 10_000;
/**
 * Children at once, beyond which connections wait in the listen backlog (see --max-children in
 * README for the measurement behind it).
 */
export const MAX_CHILDREN = 256;
/** Connections accepted (and forked for) per wake-up of the listener, before the loop runs again. */
export const ACCEPT_BURST = 16;

const SERVICE_UNAVAILABLE = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\nRetry-After: 1\r\n\r\nService Unavailable\n',
  'latin1',
);

/**
 * Answers `response` and closes. The request is read first (as far as it has arrived): closing a
 * socket with unread input sends a reset, and the client would lose the answer.
 */
function answerAndClose(fd: number, response: Buffer): void {
  try {
    recv(fd, Buffer.allocUnsafe(16384), 0, 16384, MSG_DONTWAIT);
  } catch {
    /* nothing has arrived yet, or the client left */
  }
  try {
    sendall(fd, response);
    shutdown(fd, SHUT_WR);
  } catch {
    /* the client left */
  }
  close(fd);
}

/** How long the listener rests after a fork that could not be made (refuseBurst). */
const FORK_RETRY_MS = 250;

function refuse(fd: number): void {
  answerAndClose(fd, SERVICE_UNAVAILABLE);
}

/** Whether the client has sent anything (or closed) yet. */
function hasInput(fd: number): boolean {
  for (;;) {
    try {
      return poll([{ fd, events: POLLIN }], 0)[0] !== 0;
    } catch (err) {
      // Even a poll that does not wait fails with EINTR when a signal is pending (a SIGCHLD from
      // the children exiting all the time here): that crashed the server under load in CI.
      if (!isErrno(err, 'EINTR')) throw err;
    }
  }
}

/** The client closed without sending a byte (what it sent would be peeked instead). */
function closedSilently(fd: number): boolean {
  for (;;) {
    try {
      return recv(fd, Buffer.allocUnsafe(1), 0, 1, MSG_PEEK | MSG_DONTWAIT) === 0;
    } catch (err) {
      if (isErrno(err, 'EINTR')) continue;
      if (isErrno(err, 'EAGAIN', 'EWOULDBLOCK')) return false; // woken, but nothing to read yet
      return true; // reset
    }
  }
}

export interface EventedForkingOptions {
  listener: Listener;
  /**
   * Serves one client in the child (the child closes the fd once it returns or its promise settles).
   * `stopFd` becomes readable (hangs up) when the server stops: finish what is in progress, then close.
   */
  handle: (fd: number, peer: SocketAddress, stopFd: number) => void | Promise<void>;
  childSleepMs?: number;
  /**
   * A child lets the app's own work started during its connection finish (a timer, a write, an
   * outgoing request: pending-work.ts) for up to gracefulTimeoutMs before it leaves (servers that
   * host an app; the tutorial's leave at once).
   */
  waitForAppWork?: boolean;
  gracefulTimeoutMs?: number;
  /** At this many children the server stops accepting until one exits (default MAX_CHILDREN). */
  maxChildren?: number;
  /** A connection that sends nothing this long is answered `response` and closed by the parent. */
  firstByte?: { timeoutMs: number; response: Buffer };
  /**
   * A request (with Connection: close) that the parent serves through `handle` once at start, on a
   * private loopback connection, so that children inherit the handler's code compiled. Only for a
   * handler that finishes synchronously and whose requests have no effect but their answer.
   */
  rehearsal?: Buffer;
  /** Called once the server has stopped and every child is reaped. */
  onStopped?: (summary: StopSummary) => void;
}

export interface StopSummary {
  /** Children forked in all (one per connection). */
  children: number;
  /** Children SIGKILLed, and why. */
  killed: number;
  killedWhy?: 'that outlived the grace period' | 'at the second signal';
}

/** In a child: runs `fn` once, when the server's stop descriptor hangs up. */
export function whenStopped(stopFd: number, fn: () => void): void {
  const watcher = new FdWatcher(stopFd, () => {
    watcher.close();
    fn();
  }).start(UV_READABLE);
}

export interface EventedServer {
  /** Children alive right now. */
  readonly children: Iterable<number> & { readonly size: number };
  stop(): void;
}

export function serveForkingEvented(options: EventedForkingOptions): EventedServer {
  const { listener, handle, childSleepMs = 0, gracefulTimeoutMs = GRACEFUL_TIMEOUT_MS, maxChildren = MAX_CHILDREN, waitForAppWork = false } = options;
  const children = new OwnChildren(childOnExit);
  let served = 0;
  let killed = 0;
  let stopping = false;
  let backoff: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let stopPoll: NodeJS.Timeout | undefined;
  let inChild = false;
  let atCap: NodeJS.Timeout | undefined; // not accepting: maxChildren are running
  let forkFailure: string | undefined; // why forks fail, while they do (said once)
  let capWarned = false;
  type Client = SocketAddress & { fd: number };
  /** Accepted connections whose request has not started to arrive: held here, not in a child. */
  const waiting = new Map<number, { client: Client; watcher: FdWatcher; timer: NodeJS.Timeout }>();
  /** Connections whose request has started, waiting for a child (at the cap), oldest first. */
  const ready: Client[] = [];

  setNonBlocking(listener.fd, true);
  // The stop pipe: children keep only the read end (see the top of this file).
  const [stopFd, stopWriteFd] = pipe();
  setCloseOnExec(stopFd, true);
  setCloseOnExec(stopWriteFd, true);
  prepareFork();
  rehearse();

  function childOnExit(e: ChildExit): void {
    if (!isCleanExit(e)) warn(`Child ${e.pid} ${describeExit(e)}`);
    while (ready.length > 0 && children.size < maxChildren && !stopping && !inChild) spawnWorker(ready.shift()!);
    if (atCap && !stopping && !inChild && children.size < maxChildren) {
      clearInterval(atCap);
      atCap = undefined;
      if (!backoff) watcher.start(UV_READABLE);
    }
    if (stopping && children.size === 0) finish();
  }

  function spawnWorker(client: SocketAddress & { fd: number }): void {
    // macOS hands out accepted sockets with the listener's O_NONBLOCK; the child's I/O blocks.
    if (process.platform !== 'linux') setNonBlocking(client.fd, false);
    let pid: number;
    try {
      pid = fork();
    } catch (err) {
      if (!isForkRefusal(err)) throw err;
      warn(`${(err as Error).message}: answering 503`);
      refuse(client.fd);
      return;
    }
    if (pid === 0) {
      becomeChild(client);
      return;
    }
    forkFailure = undefined;
    served++;
    children.add(pid);
    close(client.fd);
  }

  /**
   * The child's side of spawnWorker. (Parenthesised: V8 compiles it with serveForkingEvented, in
   * the parent, instead of in every child: see initChild in posix.ts.)
   */
  const becomeChild = (function becomeChild(client: Client): void {
    inChild = true;
    // What the process has at the fork (the parent's timers and connections) is not the child's work.
    const appWork = waitForAppWork ? { base: resourcesNow(), limitMs: gracefulTimeoutMs } : undefined;
    if (served === 0) sayInherited();
    children.close();
    close(stopWriteFd);
    // The parent's other connections are not ours (their watchers are closed by fork()).
    for (const held of waiting.values()) {
      clearTimeout(held.timer);
      close(held.client.fd);
    }
    waiting.clear();
    for (const other of ready.splice(0)) close(other.fd);
    if (atCap) clearInterval(atCap);
    process.removeListener('SIGTERM', handleTerm);
    process.removeListener('SIGINT', handleTerm);
    // The terminal's Ctrl-C reaches this child too: the parent says when to stop (unless the app
    // handles SIGINT itself).
    if (process.listenerCount('SIGINT') === 0) sigaction(SIGINT, 'ignore');
    const serve = (function serve(): void {
      runChildAsync({ listenFd: listener.fd, clientFd: client.fd, handle: (function serve(fd: number) { return handle(fd, client, stopFd); }), sleepMs: childSleepMs, appWork });
    });
    // Served once the app's libraries have let go of the parent's connections (served before, a
    // pg Pool sent the first query on the ended connection: "Connection terminated unexpectedly").
    afterInheritedConnectionsEnd(serve);
  });

  /** The first child says which of the parent's connections it let go of (every child does the same). */
  function sayInherited(): void {
    const peers = inheritedConnections();
    if (peers.length > 0) warn(`Child ${process.pid} ${describeInheritedConnections(peers, 'the parent')}; every child does the same`);
  }

  /**
   * Runs here, once, before the first fork, what every child runs that can run in the parent
   * without effect, so that children inherit it compiled (V8 compiles a function when it first
   * runs; issue 17 measured a third of a hello child's CPU in V8's parser and compiler): the
   * child runner's microtask and promise path, and with options.rehearsal `handle` itself.
   */
  function rehearse(): void {
    serveFromMicrotask(-1, () => {}, () => {});
    // The child lets go of the parent's children (OwnChildren.close): a second listener does it
    // here, harmlessly, while the first keeps SIGCHLD watched.
    new OwnChildren(() => {}).close();
    if (options.rehearsal) rehearseHandler(options.rehearsal);
  }

  /**
   * `handle` serves `request` here, on a private loopback connection. Without one (no IPv4
   * loopback), children simply compile the handler themselves.
   */
  function rehearseHandler(request: Buffer): void {
    let own: Listener;
    try {
      own = createListener({ host: '127.0.0.1', port: 0, backlog: 1 });
    } catch (err) {
      if (err instanceof PosixError) return;
      throw err;
    }
    let client = -1;
    let served: Client | undefined;
    try {
      client = socket(AF_INET, SOCK_STREAM, 0);
      connect(client, '127.0.0.1', own.port);
      sendall(client, request);
      shutdown(client, SHUT_WR);
      served = accept(own.fd, SOCK_CLOEXEC);
      if (handle(served.fd, served, stopFd) instanceof Promise) throw new Error('rehearsal: the handler must finish synchronously');
    } catch (err) {
      if (!(err instanceof PosixError)) throw err;
    } finally {
      if (served) close(served.fd);
      if (client >= 0) close(client);
      close(own.fd);
    }
  }

  function listenerOnReadable(status: number): void {
    if (status < 0 || stopping) return;
    // One barrier for the whole burst of pending connections (see withForkBarrier).
    try {
      withForkBarrier(acceptPending);
    } catch (err) {
      if (!isForkRefusal(err)) throw err;
      refuseBurst(err);
    }
  }

  /**
   * No child can be forked now (a threadpool job of the app's in this process, a process limit, a
   * thread the app started here): the pending connections are answered 503 and the listener rests
   * for FORK_RETRY_MS, then tries again. Said once per cause.
   */
  function refuseBurst(err: unknown): void {
    const reason = forkRefusalCause(err);
    if (reason !== forkFailure) warn(`${(err as Error).message}: answering 503 until a child can be forked`);
    forkFailure = reason;
    for (let n = 0; n < ACCEPT_BURST; n++) {
      let client: Client;
      try {
        client = accept(listener.fd, SOCK_CLOEXEC);
      } catch (err) {
        if (isErrno(err, 'EINTR', 'ECONNABORTED')) continue;
        break;
      }
      refuse(client.fd);
    }
    if (backoff || atCap) return;
    watcher.stop();
    backoff = setTimeout(() => {
      backoff = undefined;
      if (!stopping && !atCap) watcher.start(UV_READABLE);
    }, FORK_RETRY_MS);
  }

  function acceptPending(): void {
    // At most ACCEPT_BURST per wake-up: under steady load the queue never empties, and a loop
    // that accepted until EAGAIN would starve everything else on the event loop (the reaper, so
    // zombies pile up; SIGTERM). uv_poll is level-triggered: the rest waits one loop iteration.
    for (let n = 0; n < ACCEPT_BURST; n++) {
      if (children.size >= maxChildren) {
        // Connections wait in the backlog (the kernel queues them) until a child exits. The listener's
        // watcher kept the process alive, and SIGCHLD does not: this interval does meanwhile (and
        // reaps, should a delivery be missed).
        atCap = setInterval(children.reap, 1000);
        watcher.stop();
        sayCapReached();
        return;
      }
      let client: SocketAddress & { fd: number };
      try {
        client = accept(listener.fd, SOCK_CLOEXEC);
      } catch (err) {
        if (isErrno(err, 'EAGAIN', 'EINTR', 'ECONNABORTED')) {
          if (isErrno(err, 'EAGAIN')) return;
          continue;
        }
        if (isErrno(err, ...EXHAUSTION_CODES)) {
          warn(`${(err as Error).message}; pausing accept for ${ACCEPT_RETRY_DELAY_MS} ms`);
          watcher.stop();
          backoff = setTimeout(() => {
            backoff = undefined;
            if (!stopping && !atCap) watcher.start(UV_READABLE);
          }, ACCEPT_RETRY_DELAY_MS);
          return;
        }
        throw err;
      }
      admit(client);
      if (inChild) return; // the child serves its client from the event loop
    }
  }

  /** Said once, whichever way the cap is met: at accept, or by a held connection whose bytes came. */
  function sayCapReached(): void {
    if (capWarned) return;
    capWarned = true;
    warn(`${maxChildren} children at once (--max-children): new connections wait in the backlog until one exits`);
  }

  /** A child for a connection whose request is arriving; the parent holds one that is silent. */
  function admit(client: Client): void {
    if (!options.firstByte || hasInput(client.fd)) {
      spawnWorker(client);
      return;
    }
    const { timeoutMs, response } = options.firstByte;
    const release = (): void => {
      const held = waiting.get(client.fd)!;
      waiting.delete(client.fd);
      clearTimeout(held.timer);
      held.watcher.close();
    };
    const timer = setTimeout(() => {
      release();
      answerAndClose(client.fd, response);
    }, timeoutMs);
    const watcher = new FdWatcher(client.fd, () => {
      release();
      if (closedSilently(client.fd)) close(client.fd);
      else if (children.size < maxChildren) spawnWorker(client);
      else {
        sayCapReached();
        ready.push(client);
      }
    }).start(UV_READABLE);
    waiting.set(client.fd, { client, watcher, timer });
  }

  function dropWaiting(): void {
    for (const { client, watcher: w, timer } of waiting.values()) {
      clearTimeout(timer);
      w.close();
      close(client.fd); // nothing was asked: nothing to answer
    }
    waiting.clear();
    for (const client of ready.splice(0)) refuse(client.fd);
  }

  function finish(): void {
    if (graceTimer) clearTimeout(graceTimer);
    if (atCap) clearInterval(atCap);
    if (stopPoll) clearInterval(stopPoll);
    children.reap();
    children.close();
    options.onStopped?.({ children: served, killed, killedWhy });
  }

  let killedWhy: StopSummary['killedWhy'];

  function killChildren(why: NonNullable<StopSummary['killedWhy']>): void {
    killedWhy = why;
    for (const pid of children) {
      try {
        kill(pid, SIGKILL);
        killed++;
      } catch {
        /* already exited */
      }
    }
    // SIGCHLD for the killed children ends the wait through childOnExit -> finish().
  }

  function stop(): void {
    if (stopping) return;
    stopping = true;
    if (backoff) clearTimeout(backoff);
    watcher.close();
    close(listener.fd);
    close(stopWriteFd); // every child's stop descriptor hangs up
    dropWaiting();
    if (children.size === 0) {
      finish();
      return;
    }
    say(`Waiting up to ${gracefulTimeoutMs / 1000} s for ${plural(children.size, 'child', 'children')} (TERM or Ctrl-C again: stop now) ...`);
    // The SIGCHLD wake-up does not keep the loop alive (the listener watcher did, and it is closed):
    // this poll does, and reaps too, should a delivery be missed.
    stopPoll = setInterval(children.reap, 50);
    graceTimer = setTimeout(() => killChildren('that outlived the grace period'), gracefulTimeoutMs);
  }

  function handleTerm(signal: NodeJS.Signals): void {
    // (Counted off at every delivery: an app that stops itself with its own TERM stops gracefully.)
    const fromItself = sentByItself(signal);
    if (!stopping) stop();
    else if (fromItself) say(`${signal} sent by the app to itself (a shutdown hook re-raising it): still waiting for the children`);
    else if (graceTimer) {
      // The second TERM/INT: do not wait.
      clearTimeout(graceTimer);
      graceTimer = undefined;
      killChildren('at the second signal');
    }
  }

  const watcher = new FdWatcher(listener.fd, listenerOnReadable).start(UV_READABLE);
  watchSelfSignals();
  process.on('SIGTERM', handleTerm);
  process.on('SIGINT', handleTerm);
  return { children, stop };
}
