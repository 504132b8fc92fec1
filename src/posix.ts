// The one typed entry to the native addon: system calls named as in C, Node-shaped errors,
// constants, and the policy that makes fork() safe to use from JavaScript (what the child must
// reset before running user code). Everything else in forkserve imports from here.
//
// child_process and the raw SIGCHLD handler do not mix: libuv installs its own SIGCHLD handler while
// a child_process child is alive (and resets it afterwards, silently removing ours), and a
// waitpid(-1) reaper steals its children. sigaction() (the tutorial stages' raw handler) refuses to
// replace a foreign handler and fork() checks that ours is still installed. Servers that share the
// process with child_process watch SIGCHLD through libuv instead and reap by pid
// (server/own-children.ts); a forked child detaches from the parent's child_process children.

import * as crypto from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import * as diagnostics from 'node:diagnostics_channel';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker as ThreadWorker } from 'node:worker_threads';
import { describeBusy, describeThreads, sqliteMessage, threadsMessage } from './fork-hazards';
import type { ForeignThread, NativeAddon, NativeAddress, NativeForkInfo, NativeSelfCheck, NativeFdWatcher } from './native-types';

// ---------------------------------------------------------------------------------------------
// Loading

function loadNative(): NativeAddon {
  const root = path.resolve(__dirname, '..');
  const candidates = [
    path.join(root, 'build', 'Release', 'forkserve.node'),
    path.join(root, 'build', 'Debug', 'forkserve.node'),
  ];
  const failures: string[] = [];
  for (const file of candidates) {
    try {
      return require(file) as NativeAddon;
    } catch (err) {
      // Built, but for another Node: a Debug build next to it would be stale the same way.
      if ((err as NodeJS.ErrnoException).code === 'ERR_FORKSERVE_NODE_MISMATCH') throw err;
      failures.push(`  ${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const err = new Error(
    "could not load forkserve's native addon (run npm rebuild; if npm skipped forkserve's install script, " +
      `approve it first: npm install-scripts approve forkserve). Tried:\n${failures.join('\n')}`,
  );
  (err as NodeJS.ErrnoException).code = 'ERR_FORKSERVE_NATIVE_LOAD';
  throw err;
}

const native = loadNative();

// ---------------------------------------------------------------------------------------------
// Errors

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(os.constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** Name of a positive errno value ('ECHILD'), from os.constants.errno. */
export function errnoName(errnum: number): string {
  return errnoNames.get(errnum) ?? `Unknown system error ${errnum}`;
}

/**
 * A failed system call, shaped like Node's own errors: `code` ('EADDRINUSE'), negative `errno`,
 * `syscall` ('bind') and, for socket calls, `address` and `port`.
 */
export class PosixError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  address?: string;
  port?: number;

  constructor(errnum: number, syscall: string, text?: string) {
    const code = errnoName(errnum);
    super(`${syscall} ${code}: ${text ?? native.strerror(errnum)}`);
    this.name = 'PosixError';
    this.code = code;
    this.errno = -errnum;
    this.syscall = syscall;
  }

  /** Adds the socket address to the error and its message, as Node does ("... 0.0.0.0:8888", "... /run/app.sock"). */
  withAddress(address: string, port?: number): this {
    this.address = address;
    if (port === undefined) {
      this.message += ` ${address}`;
      return this;
    }
    this.port = port;
    this.message += ` ${address.includes(':') ? `[${address}]` : address}:${port}`;
    return this;
  }
}

native.setErrorFactory((errnum, syscall, text) => new PosixError(errnum, syscall, text));

// FORKSERVE_CHILD_WORKERS: the most V8 worker threads a forked child starts for itself (default: as
// many as this process has). 0 leaves V8's background work unrun in children (an idle child then
// spins after a major GC): for measuring that, not for serving.
const childWorkers = process.env.FORKSERVE_CHILD_WORKERS;
if (childWorkers !== undefined && childWorkers !== '') {
  if (!/^\d+$/.test(childWorkers) || Number(childWorkers) > 64) {
    throw Object.assign(new Error(`FORKSERVE_CHILD_WORKERS='${childWorkers}' is not a number of threads (0..64)`), {
      code: 'ERR_FORKSERVE_CHILD_WORKERS',
    });
  }
  native.setChildWorkers(Number(childWorkers));
}

/** True when `err` is a PosixError with one of the given codes. */
export function isErrno(err: unknown, ...codes: string[]): err is PosixError {
  return err instanceof PosixError && codes.includes(err.code);
}

// ---------------------------------------------------------------------------------------------
// Constants

export const constants = Object.freeze({
  ...native.socketConstants,
  ...native.processConstants,
  ...native.signalConstants,
  ...native.watchConstants,
}) as Readonly<Record<string, number>>;

export const {
  AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, SOCK_DGRAM, SO_TYPE, SO_ACCEPTCONN, SOL_SOCKET, MSG_DONTWAIT, MSG_PEEK, SO_REUSEADDR, IPPROTO_TCP, TCP_NODELAY, SHUT_RD, SHUT_WR,
  SHUT_RDWR, SOMAXCONN, SOCK_NONBLOCK, SOCK_CLOEXEC, POLLIN, POLLOUT, POLLERR, POLLHUP, F_GETFL, F_SETFL, F_GETFD, F_SETFD, FD_CLOEXEC,
  O_NONBLOCK, PROT_READ, PROT_WRITE, PROT_EXEC, WNOHANG, RLIMIT_NOFILE, RLIMIT_NPROC, SIGCHLD, SIGTERM, SIGINT, SIGKILL, SIGHUP, SIGQUIT,
  SIGUSR1, SIGUSR2, SIGPIPE, SA_RESTART, SA_NOCLDSTOP, SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK,
  UV_READABLE, UV_WRITABLE, UV_DISCONNECT,
} = constants;

// ---------------------------------------------------------------------------------------------
// Sockets and descriptors

export type SocketAddress = NativeAddress;

export const socket = native.socket;
export const setsockopt = native.setsockopt;
export const getsockopt = native.getsockopt;
export const listen = native.listen;
export const getsockname = native.getsockname;
export const getpeername = native.getpeername;
export const shutdown = native.shutdown;
export const close = native.close;
export const pipe = native.pipe;
export const poll = native.poll;
export const fcntl = native.fcntl;

/**
 * bind(fd, address, port); address '' or '0.0.0.0' binds all IPv4 interfaces. bind(fd, path) binds
 * a unix socket (AF_UNIX; '@name' is Linux's abstract namespace).
 */
export function bind(fd: number, address: string, port?: number): void {
  try {
    native.bind(fd, address, port);
  } catch (err) {
    throw err instanceof PosixError ? err.withAddress(port === undefined ? address : address || '0.0.0.0', port) : err;
  }
}

/** connect(fd, address, port) with a numeric IPv4/IPv6 address, or connect(fd, path) for a unix socket. */
export function connect(fd: number, address: string, port?: number): void {
  try {
    native.connect(fd, address, port);
  } catch (err) {
    throw err instanceof PosixError ? err.withAddress(address, port) : err;
  }
}

/** accept(fd[, flags]) -> the new fd and the peer's address. Blocks unless fd is O_NONBLOCK. */
export const accept = native.accept;

/** read(fd, buffer[, offset[, length]]) -> bytes read; 0 at end of file. */
export const read = native.read;
/** write(fd, buffer[, offset[, length]]) -> bytes written. */
export const write = native.write;

/** recv(fd, buffer[, offset[, length[, flags]]]) -> bytes received; 0 when the peer closed. */
export function recv(fd: number, buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset, flags = 0): number {
  return native.recv(fd, buffer, offset, length, flags);
}

/** send(fd, buffer[, offset[, length[, flags]]]) -> bytes sent. Never raises SIGPIPE (EPIPE instead). */
export function send(fd: number, buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset, flags = 0): number {
  return native.send(fd, buffer, offset, length, flags);
}

/** Sends all of `buffer`, looping over partial writes and EINTR (Python's socket.sendall). */
export function sendall(fd: number, buffer: Uint8Array): void {
  let off = 0;
  while (off < buffer.byteLength) {
    try {
      off += native.send(fd, buffer, off, buffer.byteLength - off, 0);
    } catch (err) {
      if (!isErrno(err, 'EINTR')) throw err;
    }
  }
}

/** Sets or clears O_NONBLOCK on fd. */
export function setNonBlocking(fd: number, on: boolean): void {
  const flags = native.fcntl(fd, F_GETFL);
  native.fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

/**
 * FD_CLOEXEC on or off. fork() keeps every descriptor either way; exec() (a child_process child)
 * gets none marked close-on-exec. forkserve's servers mark theirs, as Python does since PEP 446, so
 * an app's commands never hold a listener or a client connection open.
 */
export function setCloseOnExec(fd: number, on: boolean): void {
  const flags = native.fcntl(fd, F_GETFD);
  native.fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
}

// ---------------------------------------------------------------------------------------------
// Watching descriptors from the event loop

const watchers = new Set<FdWatcher>();

/** A uv_poll_t on fd. Closed automatically in a forked child (the parent owns it). */
export class FdWatcher {
  private handle: NativeFdWatcher | null;
  constructor(readonly fd: number, callback: (status: number, events: number) => void) {
    this.handle = new native.FdWatcher(fd, callback);
    watchers.add(this);
  }
  start(events: number): this {
    this.handle?.start(events);
    return this;
  }
  stop(): void {
    this.handle?.stop();
  }
  ref(): void {
    this.handle?.ref();
  }
  unref(): void {
    this.handle?.unref();
  }
  /** Stops watching and frees the handle; the fd stays open. */
  close(): void {
    this.handle?.close();
    this.handle = null;
    watchers.delete(this);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface WaitResult {
  /** The child that changed state; 0 with WNOHANG when none has. */
  pid: number;
  /** Raw wait status, as C's `int status`. */
  status: number;
  /** Exit code when the child exited normally, else null. */
  exitCode: number | null;
  /** Terminating (or stopping) signal number, else null. */
  signal: number | null;
  stopped: boolean;
}

/** waitpid(pid, options): pid -1 waits for any child; throws ECHILD when there are none. */
export const waitpid: (pid: number, options: number) => WaitResult = native.waitpid;
/**
 * The pid of a child that has exited, not reaped (waitid with WNOWAIT): 0 when none has, -1 when
 * there are no children. Throws ENOSYS where waitid cannot say which child (macOS).
 */
export const waitidExited: () => number = native.waitidExited;
/**
 * mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS): zero-filled memory that a
 * parent and the children it forks afterwards share (writes on one side are seen on the other).
 */
export const mmapShared: (length: number) => ArrayBuffer = native.mmapShared;
/**
 * remapHuge(address, length, prot): moves [address, address + length) of read-only memory (2 MiB
 * aligned, one mapping) onto anonymous transparent huge pages with protection `prot`, contents
 * unchanged; other threads see the swap atomically. Linux only (ENOSYS elsewhere).
 */
export const remapHuge: (address: number, length: number, prot: number) => void = native.remapHuge;
/** An address inside Node's own code (the executable, or libnode for a Node built as a library). */
export const nodeCodeAddress: number = native.processConstants.nodeCodeAddress;
/** prctl(PR_SET_PDEATHSIG, signo): signo arrives when the parent dies. Linux; ENOSYS elsewhere. */
export const setParentDeathSignal: (signo: number) => void = native.setParentDeathSignal;
export const kill = native.kill;
/**
 * The requests in flight on Node's event loop (libuv's active_reqs): those Node lists in
 * process.getActiveResourcesInfo() (fs, DNS, writes ...) and those it does not: jobs on libuv's
 * threadpool (zlib, crypto's async functions, an addon's async work).
 */
export const loopRequests: () => number = native.loopRequests;
export const getpid = native.getpid;
export const getppid = native.getppid;

export type RlimitResource = 'NOFILE' | 'NPROC';
const RLIMITS: Record<RlimitResource, number> = { NOFILE: constants.RLIMIT_NOFILE, NPROC: constants.RLIMIT_NPROC };

/** getrlimit('NOFILE' | 'NPROC') -> { soft, hard }; Infinity means unlimited. */
export function getrlimit(resource: RlimitResource): { soft: number; hard: number } {
  return native.getrlimit(RLIMITS[resource]);
}

export function setrlimit(resource: RlimitResource, limits: { soft: number; hard: number }): void {
  native.setrlimit(RLIMITS[resource], limits.soft, limits.hard);
}

/**
 * _exit(code): leaves now, without 'exit' handlers or Node's shutdown. How a forked child must end.
 * (Parenthesised: compiled at load time, not in every child; see initChild.)
 */
export const _exit = (function _exit(code = 0): never {
  return native._exit(code);
});

// ---------------------------------------------------------------------------------------------
// Signals

export type SignalHandler = (signo: number) => void;
export type SignalDisposition = 'default' | 'ignore' | SignalHandler;

export interface SigactionOptions {
  /** SA_RESTART: interrupted blocking calls resume instead of failing with EINTR. Default true. */
  restart?: boolean;
  /** SA_NOCLDSTOP: no SIGCHLD when a child stops. Default true. */
  noCldStop?: boolean;
}

let sigchldHandler: SignalHandler | undefined;
let sigchldSeen = 0; // kernel deliveries already dispatched to sigchldHandler

function dispatchUpTo(total: number): void {
  // Once per kernel delivery: the tutorial's "signals are not queued" lesson depends on the count.
  while (sigchldSeen < total) {
    sigchldSeen++;
    sigchldHandler?.(SIGCHLD);
  }
}

function sigchldError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * sigaction(SIGCHLD, handler | 'default' | 'ignore', options). A JS handler runs once per kernel
 * delivery, on the event loop (or from dispatchSignals() in a blocking loop). The C handler behind
 * it only counts and wakes the loop. Refuses to replace somebody else's handler. Other signals:
 * 'default' or 'ignore' only.
 */
export function sigaction(signo: number, action: SignalDisposition, options: SigactionOptions = {}): void {
  if (signo !== SIGCHLD) {
    // Other signals: only the default action or ignoring (their handlers belong to process.on()).
    if (typeof action === 'function') throw new RangeError('sigaction: a handler is supported for SIGCHLD only (use process.on)');
    native.sigaction(signo, action === 'default' ? 0 : 1);
    return;
  }
  const previous = native.sigaction(signo, -1);
  if (previous.disposition === 'foreign') {
    throw sigchldError(
      'sigaction: SIGCHLD already has a handler that is not ours (is child_process in use in this process?)',
      'ERR_FORKSERVE_SIGCHLD_IN_USE',
    );
  }
  let flags = 0;
  if (options.restart ?? true) flags |= SA_RESTART;
  if (options.noCldStop ?? true) flags |= SA_NOCLDSTOP;
  if (typeof action === 'function') {
    sigchldHandler = action;
    sigchldSeen = native.sigchldDeliveries();
    native.watchSignals(dispatchUpTo);
    native.sigaction(signo, 2, flags);
  } else {
    native.sigaction(signo, action === 'default' ? 0 : 1, flags);
    native.unwatchSignals();
    sigchldHandler = undefined;
  }
}

/** Runs the SIGCHLD handler for deliveries not yet dispatched; for loops that block in accept(). */
export function dispatchSignals(): void {
  if (sigchldHandler) dispatchUpTo(native.sigchldDeliveries());
}

/** Total kernel deliveries of SIGCHLD to our handler in this process. */
export const sigchldDeliveries = native.sigchldDeliveries;

/** sigprocmask(SIG_BLOCK | SIG_UNBLOCK | SIG_SETMASK, signals) -> previous mask (calling thread). */
export const sigprocmask = native.sigprocmask;

// ---------------------------------------------------------------------------------------------
// fork()

let inChild = false;
let selfChecked = false;

/** Parks every V8 and threadpool thread and checks that no thread escaped the count. */
export function forkSelfCheck(timeoutMs = 2000, probeMs = 50): NativeSelfCheck {
  return native.forkSelfCheck(timeoutMs, probeMs);
}

/** Thread counts and the last fork's timings (barrier, madvise, fork) in microseconds. */
export function forkInfo(): NativeForkInfo {
  return native.forkInfo();
}

/** In a forked child: the peers of the parent's connections it let go of (native/inherited.cc). */
export function inheritedConnections(): string[] {
  return inChild ? native.inheritedConnections() : [];
}

/**
 * Runs `fn` once the libraries that pooled the parent's connections have seen them end in this
 * child: after a whole poll phase of the event loop, in which each reads its end-of-file (a pg
 * Pool drops the client, undici the socket). At once when nothing was inherited. A fork made from
 * an I/O callback returns into the parent's poll phase, whose events are stale here: one
 * setImmediate would still run before the child's first poll, so two. (Parenthesised: compiled at
 * load time, see initChild.)
 */
export const afterInheritedConnectionsEnd = (function afterInheritedConnectionsEnd(fn: () => void): void {
  if (!inChild || native.inheritedConnections().length === 0) return fn();
  setImmediate(() => setImmediate(fn));
});

/** True in a process created by this module's fork(). */
export function isForkedChild(): boolean {
  return inChild;
}

/** What a server adds to fork()'s policy for the app's own threads (issue 25). */
export interface ForkPolicy {
  /** Says why the first fork waits (threads the app started, a busy threadpool). */
  log?: (line: string) => void;
  /**
   * Where the app should create what cannot be forked, for the refusals' fix: "start them <after>",
   * "open it <after>" (the server's words: a hook, a flag).
   */
  after?: string;
  /** How long the first fork waits for the app's threads to end (libvips ends idle ones ~15 s after its last image). */
  threadWaitMs?: number;
  /** How long the first fork waits for a busy libuv threadpool (a job the app started at load). */
  busyWaitMs?: number;
}

const policy: Required<ForkPolicy> = {
  log: () => {},
  after: 'after the fork, in the child (lazily, at the first request)',
  threadWaitMs: 20_000,
  busyWaitMs: 30_000,
};

export function setForkPolicy(p: ForkPolicy): void {
  Object.assign(policy, Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)));
}

// FORKSERVE_THREAD_CENSUS=0: fork whatever threads the app runs (for a thread known to be safe to
// lose, such as one that only sleeps; the child never has it).
if (process.env.FORKSERVE_THREAD_CENSUS === '0') native.setThreadCensus(false);

// The app's worker_threads Workers, for the refusal's words (Node 20 names their threads "node").
const liveWorkers = new Set<ThreadWorker>();
process.on('worker', (w: ThreadWorker) => {
  liveWorkers.add(w);
  w.once('exit', () => liveWorkers.delete(w));
});

/** esbuild's synchronous API keeps a Worker unless ESBUILD_WORKER_THREADS=0 (tsx loads it). */
const esbuildWithWorkers = (): boolean =>
  process.env.ESBUILD_WORKER_THREADS !== '0' && Object.keys(require.cache).some((k) => /[\\/]esbuild[\\/]lib[\\/]main\.js$/.test(k));

function threadsError(threads: ForeignThread[]): Error {
  const message = threadsMessage(threads, liveWorkers.size, `start them ${policy.after}`, esbuildWithWorkers());
  return Object.assign(new Error(message), { code: 'ERR_FORKSERVE_THREADS', threads });
}

/** A fork refused because threads would not pause: EAGAIN, transient, with what was busy. */
export class ForkBusyError extends PosixError {
  constructor(text: string) {
    super(os.constants.errno.EAGAIN, 'fork', text);
  }
}

/**
 * A fork that failed for a reason that passes, so the caller retries later instead of dying:
 * EAGAIN (a busy threadpool, a process limit), ENOMEM, or threads the app started (ERR_FORKSERVE_THREADS).
 */
export function isForkRefusal(err: unknown): boolean {
  return isErrno(err, 'EAGAIN', 'ENOMEM') || (err as { code?: unknown })?.code === 'ERR_FORKSERVE_THREADS';
}

/** A refusal's message without its durations ("after 2 s"): the same cause says the same, to be said once. */
export function forkRefusalCause(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/ \d+(\.\d+)? s\b/g, '');
}

let timeoutsSeen = 0;

/** fork()'s native errors in words: the app's threads, or the barrier's timeout (what was busy). */
function explainForkError(err: unknown): unknown {
  if ((err as { code?: unknown })?.code === 'ERR_FORKSERVE_THREADS') return threadsError((err as { threads: ForeignThread[] }).threads);
  if (!isErrno(err, 'EAGAIN')) return err;
  const info = native.forkInfo();
  if (info.barrierTimeouts === timeoutsSeen) return err; // the kernel's EAGAIN (a process limit)
  timeoutsSeen = info.barrierTimeouts;
  return new ForkBusyError(describeBusy(info.lastTimeout, info.barrierTimeoutMs));
}

/**
 * Runs fork()'s one-time preparation now instead of at the first fork: the thread self-check
 * (which also starts libuv's threadpool), the warm-up of the child's start-up code and one full
 * garbage collection (a pause of a few ms for a start-up heap, longer for a large one), then the
 * census of the app's own threads. A server calls it at start-up, so a process limit reached later
 * cannot stop libuv from starting threads, and an app that cannot be forked is refused at once.
 * Waits (policy.busyWaitMs) while the threadpool runs a job the app started; waits
 * (policy.threadWaitMs) for threads the app started to end, then refuses (ERR_FORKSERVE_THREADS).
 */
export function prepareFork(): void {
  if (selfChecked || inChild) return;
  const check = selfCheckWhenIdle();
  if (!check.ok) {
    const parked = check.arrived === check.v8Posted + check.uvPosted;
    throw Object.assign(
      new Error(
        !parked
          ? `fork: ${describeBusy(busyOf(check), policy.busyWaitMs)}; forkserve forks once it is idle`
          : check.workerRouting === 'incomplete' || check.workerRouting === 'no vtable slots'
            ? `fork: the self-check failed (${JSON.stringify(check)}); on this Node version V8's background work cannot ` +
              'be routed to threads of a forked child (FORKSERVE_CHILD_WORKERS=0 forks without them: long-lived children may spin)'
            : `fork: the self-check failed (${JSON.stringify(check)}); this Node version has threads forkserve ` +
              'cannot park, and forked children could hang',
      ),
      { code: parked ? 'ERR_FORKSERVE_SELF_CHECK' : 'ERR_FORKSERVE_BUSY' },
    );
  }
  selfChecked = true;
  warmChildInit();
  // One full GC before the first fork: children inherit V8's heap sizing, and before an
  // isolate's first mark-compact that is the start-up state, tuned to the parent's own history
  // (native/fork.cc, settleHeap: on Node 26 it cost a child twice the scavenges of a spawned server).
  // It is an incremental one, as V8's own are (native/fork.cc, startMarking: an atomic one sets
  // the heap growth of the parent and of every child for good); the testing GC only if V8 would
  // not start marking or did not finish it in time.
  if (!(native.startMarking() && completeMarking())) native.settleHeap(gcExposed());
  waitForForeignThreads();
  refuseOpenDatabases();
}

const busyOf = (c: NativeSelfCheck): NativeForkInfo['lastTimeout'] => ({
  v8Posted: c.v8Posted,
  v8Parked: c.arrived - c.threadpoolArrived,
  threadpoolPosted: c.uvPosted,
  threadpoolParked: c.threadpoolArrived,
});

/** The self-check, again while a thread stays busy (a job the app started at load), up to policy.busyWaitMs. */
function selfCheckWhenIdle(): NativeSelfCheck {
  const started = Date.now();
  let said = false;
  for (;;) {
    const check = native.forkSelfCheck(2000, 50);
    const waited = Date.now() - started;
    if (check.arrived === check.v8Posted + check.uvPosted || waited >= policy.busyWaitMs) return check;
    if (!said) policy.log(`fork: waiting up to ${policy.busyWaitMs / 1000} s before the first fork: ${describeBusy(busyOf(check), waited)}`);
    said = true;
  }
}

/** Threads the app started that the barrier does not know: wait for them to end, then refuse. */
function waitForForeignThreads(): void {
  let threads = native.threadCensus();
  if (threads.length === 0 || process.env.FORKSERVE_THREAD_CENSUS === '0') return;
  // A Worker does not end by itself; other threads may (libvips ends its idle ones).
  if (threads.length <= liveWorkers.size) throw threadsError(threads);
  const deadline = Date.now() + policy.threadWaitMs;
  policy.log(`fork: waiting up to ${policy.threadWaitMs / 1000} s for threads the app started to end: ${describeThreads(threads, liveWorkers.size)}`);
  while (threads.length > 0 && Date.now() < deadline) {
    Atomics.wait(settleWait, 0, 0, 100);
    threads = native.threadCensus();
  }
  if (threads.length > 0) throw threadsError(threads);
}

// FORKSERVE_SQLITE_FORK=1: fork with SQLite databases open (a read-only file nobody writes).
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * The SQLite databases the process has open (better-sqlite3, node:sqlite, sqlite3): each descriptor
 * on a regular file that starts with SQLite's header, read in place (pread: the offset is left as
 * it is). Named by path where /proc tells it, else by descriptor. An empty file (a database not yet
 * written) has no header and is not found.
 */
function openSqliteDatabases(): string[] {
  let fds: number[];
  try {
    fds = fs.readdirSync(process.platform === 'linux' ? '/proc/self/fd' : '/dev/fd').map(Number).filter((fd) => fd > 2);
  } catch {
    return [];
  }
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const found = new Set<string>();
  for (const fd of fds) {
    try {
      if (!fs.fstatSync(fd).isFile() || fs.readSync(fd, header, 0, header.length, 0) !== header.length || !header.equals(SQLITE_HEADER)) continue;
    } catch {
      continue; // the listing's own descriptor (closed by now), a file open for writing only
    }
    let name = `fd ${fd}`;
    try {
      name = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      /* not Linux */
    }
    found.add(name);
  }
  return [...found];
}

/** SQLite forbids carrying an open database across fork(): refused at start-up (ERR_FORKSERVE_SQLITE). */
function refuseOpenDatabases(): void {
  if (process.env.FORKSERVE_SQLITE_FORK === '1') return;
  const files = openSqliteDatabases();
  if (files.length > 0) {
    throw Object.assign(new Error(sqliteMessage(files, `open it ${policy.after}`)), { code: 'ERR_FORKSERVE_SQLITE', files });
  }
}

const gcExposed = (): boolean => typeof (globalThis as { gc?: unknown }).gc === 'function';

/** Most time completeMarking() spends allocating before it leaves the marking to the testing GC. */
const MARKING_BUDGET_MS = 500;
let markingSink: unknown = null;

/**
 * Lets V8 finish the incremental marking in progress as it does by itself: V8 advances marking on
 * allocation and, once marking is done, runs the closing mark-compact at the next stack check of
 * JavaScript. So this allocates short-lived arrays (512 KB per round, young garbage) until V8
 * reports the mark-compact's end, for at most MARKING_BUDGET_MS. True if marking ended.
 */
function completeMarking(): boolean {
  const deadline = Date.now() + MARKING_BUDGET_MS;
  while (native.isMarking() && Date.now() <= deadline) {
    for (let i = 0; i < 256; i++) markingSink = new Array(256);
  }
  markingSink = null;
  return !native.isMarking();
}

const finishMarking = process.env.FORKSERVE_FINISH_MARKING !== '0';

function ensureForkable(): void {
  prepareFork();
  // A child forked while V8 marks incrementally would finish the parent's mark-compact itself
  // (native/fork.cc, finishMarking): finish it here once, under FORKSERVE_FINISH_MARKING!=0, as V8
  // would (an incremental mark-compact) and with the testing GC only if that takes too long.
  if (finishMarking && !inChild && native.isMarking() && !completeMarking()) native.finishMarking(gcExposed());
  if (sigchldHandler && native.sigaction(SIGCHLD, -1).disposition !== 'handler') {
    throw sigchldError(
      'fork: our SIGCHLD handler was replaced (child_process must not be used in a forking server)',
      'ERR_FORKSERVE_SIGCHLD_REPLACED',
    );
  }
}

/**
 * fork(): returns the child's pid in the parent and 0 in the child, like POSIX. In the child the
 * event loop has been re-initialised, our watchers and SIGCHLD handler are gone, process.pid is
 * right, randomness is fresh, and process.exit()/an empty event loop end the child through _exit().
 * Inherited timers and other handles of the parent's still exist: close them before real work.
 * Throws EAGAIN: the kernel's (a process limit), or a ForkBusyError (threads could not be paused
 * in time: a long threadpool job), both transient; ERR_FORKSERVE_THREADS for threads the app
 * started that the child would not have. A child reads end-of-file on the parent's connections
 * (inheritedConnections() lists them) and never sees the parent's I/O in flight complete.
 */
export function fork(): number {
  ensureForkable();
  let pid: number;
  try {
    pid = native.fork();
  } catch (err) {
    throw explainForkError(err);
  }
  if (pid === 0) initChild();
  return pid;
}

/**
 * Runs `fn` with the fork barrier closed once for all the forks it makes (a burst of accepted
 * connections), instead of once per fork. Keep `fn` short: V8's and libuv's worker threads are
 * parked meanwhile (the main thread still works: V8 joins its jobs itself). In a child created
 * inside `fn` the barrier no longer exists, so the child may return through here harmlessly.
 */
export function withForkBarrier<T>(fn: () => T): T {
  ensureForkable();
  try {
    native.forkHold();
  } catch (err) {
    throw explainForkError(err);
  }
  try {
    return fn();
  } finally {
    native.forkRelease();
  }
}

function childExitCode(code?: number | string | null): number {
  const n = Number(code ?? process.exitCode ?? 0);
  return Number.isInteger(n) ? n & 0xff : 1;
}

// The parent's event loop must never run dry in the child: Node would wait forever for platform
// tasks that no thread will run. The native guard calls this instead.
native.setLoopDryCallback(() => leaveChild(childExitCode()));

function childOnUncaughtException(err: unknown): void {
  // Only when nobody else handles it: Node's default would print, then hang in platform shutdown.
  if (process.listenerCount('uncaughtException') > 1) return;
  const text = err instanceof Error ? err.stack ?? String(err) : String(err);
  try {
    fs.writeSync(2, `${text}\n`);
  } finally {
    leaveChild(1);
  }
}

// This process's child_process children, known from Node's 'child_process' diagnostics channel, so
// a child forked from here can let go of them (see detachParentsChildProcesses).
const parentsChildProcesses = new Set<ChildProcess>();
diagnostics.subscribe('child_process', (message) => {
  const child = (message as { process?: ChildProcess }).process;
  if (!child) return;
  parentsChildProcesses.add(child);
  child.once('close', () => parentsChildProcesses.delete(child));
});

type RawHandle = { close?: () => void; readStop?: () => void } | null | undefined;

/**
 * In a forked child, the parent's child_process children are not ours: closing our copies of their
 * process handles means libuv here neither waits for them nor fires their 'exit' (nor keeps the
 * loop alive for them), and closing our copies of their stdio and IPC pipes means this process
 * never reads output or messages meant for the parent. No JS event is emitted for any of it; a
 * write to such a pipe from the child fails. The parent's own copies are untouched. (Parenthesised:
 * compiled at load time, see initChild.)
 */
const detachParentsChildProcesses = (function detachParentsChildProcesses(): void {
  for (const child of parentsChildProcesses) {
    const raw = child as unknown as Record<string | symbol, RawHandle>;
    const pipes: RawHandle[] = (child.stdio ?? []).map((s) => (s as unknown as { _handle?: RawHandle } | null)?._handle);
    const channel = Object.getOwnPropertySymbols(child).find((sym) => sym.description === 'kChannelHandle');
    if (channel) pipes.push(raw[channel]);
    for (const h of [raw._handle, ...pipes]) {
      try {
        h?.readStop?.();
        h?.close?.();
      } catch {
        /* already closed */
      }
    }
    raw._handle = null;
  }
  parentsChildProcesses.clear();
});

// Parenthesised, like the other functions only a child runs: V8 compiles a function expression in
// parentheses together with the code around it (its heuristic for functions that are called at
// once) instead of at its first call. That happens here, in the parent, at load time, and every
// child inherits the bytecode; otherwise each child compiled them again, cold (issue 17).
//
// What initChild needs is made here once, too: code that only children run has no type feedback,
// so each `process` in it is a lookup through the runtime, and an object literal or a closure in it
// is built from scratch in every child, new hidden-class transitions included, written into pages
// shared with the parent (copy-on-write faults; bench/results/fork-floor-2026-12-07-notes.md).
const proc = process;
const pidDescriptor: PropertyDescriptor = { value: 0, configurable: true, enumerable: true, writable: false };
const childExit = (function exit(code?: number | string | null): never {
  return leaveChild(childExitCode(code));
}) as typeof process.exit;

/** The parent's 'exit' listeners at the fork: not the child's to run. */
let parentsExitListeners: ReadonlySet<unknown> = new Set();
let leaving = false;

/**
 * How a forked child ends: the 'exit' listeners the child itself added run, as Node runs them at
 * exit (a pino transport flushes its lines there, a worker_threads pool says goodbye), then
 * _exit(code). The parent's listeners do not run here (they are about the parent's state), and
 * Node's own exit path is never taken: it joins threads a child does not have (FORK-SAFETY.md 3).
 * (Parenthesised: compiled at load time, see initChild.)
 */
export const leaveChild = (function leaveChild(code: number): never {
  if (!leaving && inChild) {
    leaving = true;
    proc.exitCode = code;
    for (const listener of proc.listeners('exit')) {
      if (parentsExitListeners.has(listener)) continue;
      try {
        (listener as (code: number) => void).call(proc, code);
      } catch (err) {
        try {
          fs.writeSync(2, `${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
        } catch {
          /* stderr is gone */
        }
      }
    }
  }
  return native._exit(code);
});

const initChild = (function initChild(): void {
  inChild = true;
  pidDescriptor.value = native.getpid();
  Object.defineProperty(proc, 'pid', pidDescriptor);
  parentsExitListeners = new Set(proc.listeners('exit'));
  watchers.forEach(closeWatcher);
  detachParentsChildProcesses();
  sigchldHandler = undefined;
  sigchldSeen = 0;
  proc.exit = childExit;
  if (!proc.listeners('uncaughtException').includes(childOnUncaughtException)) {
    proc.on('uncaughtException', childOnUncaughtException);
  }
  // _exit() discards what libuv still queues for a pipe: make the standard streams synchronous.
  blockingStream(proc.stdout);
  blockingStream(proc.stderr);
  reseedRandomness();
});

// Parenthesised: compiled at load time (see initChild).
const closeWatcher = (function closeWatcher(w: FdWatcher): void {
  w.close(); // deletes itself from `watchers`, which forEach allows
});
const blockingStream = (function blockingStream(stream: NodeJS.WriteStream): void {
  (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => void } })._handle?.setBlocking?.(true);
});

// ---------------------------------------------------------------------------------------------
// Fresh randomness in every child
//
// fork() copies V8's Math.random state and Node's entropy caches, so without this every child of
// one parent returns the same "random" values (measured: 39 duplicates among 40 children). OpenSSL
// reseeds itself after fork, so the kernel-seeded CSPRNG behind crypto.randomFillSync is fresh.

const MATH_POOL = 256;
const mathWords = new Uint32Array(MATH_POOL * 2);
const mathPool = new Float64Array(MATH_POOL);
let mathIndex = MATH_POOL;

function refillMathPool(): void {
  crypto.randomFillSync(mathWords);
  for (let i = 0; i < MATH_POOL; i++) {
    // 53 random bits -> [0, 1), as V8 does with its xorshift128+ output.
    mathPool[i] = ((mathWords[2 * i] >>> 5) * 67108864 + (mathWords[2 * i + 1] >>> 6)) / 9007199254740992;
  }
  mathIndex = 0;
}

function childMathRandom(): number {
  if (mathIndex === MATH_POOL) refillMathPool();
  return mathPool[mathIndex++];
}

// Node refills its randomUUID cache every 128 UUIDs and its randomInt cache every 1024 draws (6 KiB
// of 6-byte values); drawing that many makes both refill from OpenSSL before user code sees them.
const UUID_CACHE_ENTRIES = 128;
const RANDOM_INT_CACHE_ENTRIES = 1024;

function drainEntropyCaches(): void {
  for (let i = 0; i < UUID_CACHE_ENTRIES; i++) crypto.randomUUID();
  for (let i = 0; i < RANDOM_INT_CACHE_ENTRIES; i++) crypto.randomInt(0xffffffff);
}

// Each child starts from the parent's state: work done here once (creating the stdio streams,
// compiling the cache drains) is inherited instead of repeated, cold, in every child (measured:
// child start-up 5.6 ms -> 1.0 ms).
function warmChildInit(): void {
  void process.stdout;
  void process.stderr;
  for (let i = 0; i < 8; i++) drainEntropyCaches();
  // V8 marks a hot function for optimization and starts compiling it at its next call. A function
  // marked during the last drain would be called next in a child, and then every child started a
  // thread to compile it (TurboFan, ~25 ms of work that a hello child never used; seen in 1 server
  // start of 4, in all its children): drain again until the compiles have been started, done by
  // the parent's workers and installed here.
  for (let i = 0; i < SETTLE_ROUNDS; i++) {
    Atomics.wait(settleWait, 0, 0, SETTLE_MS);
    drainEntropyCaches();
  }
  rehearseChildStart();
}

const SETTLE_ROUNDS = 4;
const SETTLE_MS = 15;
const settleWait = new Int32Array(new SharedArrayBuffer(4));

const noop = (): void => {};
const REHEARSAL_EVENT: string = 'forkserve-rehearsal';

/**
 * What every child runs at its start that can run in the parent without effect, run here once so
 * that children inherit it compiled (issue 17: a third of a hello child's CPU was V8 compiling code
 * that only children ran): closing a watcher (on a pipe of our own), the EventEmitter queries and
 * removals of initChild and of the servers' child side (on an event of our own; measured: without
 * them a child took 0.2 ms more CPU and 30 more page faults), queueMicrotask (which builds an
 * AsyncResource the first time) and promise jobs, sigaction()'s JS side (signal 0 fails with
 * EINVAL before anything changes). The child-only functions themselves are compiled at load time
 * (see initChild).
 */
function rehearseChildStart(): void {
  const [r, w] = native.pipe();
  try {
    new FdWatcher(r, noop).close();
  } finally {
    native.close(r);
    native.close(w);
  }
  process.listeners('uncaughtException').includes(noop);
  process.listenerCount(REHEARSAL_EVENT);
  // Removing a listener from process runs Node's own 'removeListener' listeners (the signal and
  // promise modules'), which a child runs when it drops the parent's SIGTERM/SIGCHLD listeners.
  process.on(REHEARSAL_EVENT, noop);
  process.removeListener(REHEARSAL_EVENT, noop);
  queueMicrotask(noop);
  Promise.resolve().then(noop).then(noop, noop);
  try {
    sigaction(0, 'ignore');
  } catch {
    /* EINVAL */
  }
}

// Parenthesised: compiled at load time (see initChild).
const reseedRandomness = (function reseedRandomness(): void {
  mathIndex = MATH_POOL;
  Math.random = childMathRandom;
  drainEntropyCaches();
});
