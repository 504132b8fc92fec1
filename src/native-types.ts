// The raw addon, typed once. Only posix.ts loads it; everything else imports posix.ts.

export interface NativeAddress {
  family: 'IPv4' | 'IPv6' | 'Unix' | 'unknown';
  /** A unix socket's path ('@name' for an abstract one; '' for an unnamed client), else a numeric IP. */
  address: string;
  port: number;
}

export interface NativeWaitResult {
  pid: number;
  status: number;
  exitCode: number | null;
  signal: number | null;
  stopped: boolean;
}

export interface NativeSigaction {
  disposition: 'default' | 'ignore' | 'handler' | 'foreign';
  flags: number;
}

export interface NativeForkInfo {
  platformThreads: number;
  v8Workers: number;
  threadpoolThreads: number;
  inChild: boolean;
  barrierTimeoutMs: number;
  barrierTimeouts: number;
  lastBarrierUs: number;
  lastMadviseUs: number;
  lastForkUs: number;
  /** Most V8 worker threads a forked child starts for itself (FORKSERVE_CHILD_WORKERS; 0: none). */
  childWorkersMax: number;
  /** In a child: the platform's worker-thread tasks run on the child's own pool. */
  childPoolActive: boolean;
  markingFinished: number;
  /** The last barrier that timed out: threads posted a park item and how many of them parked. */
  lastTimeout: { v8Posted: number; v8Parked: number; threadpoolPosted: number; threadpoolParked: number };
  childPoolThreads?: number;
  childPoolPosted?: number;
  childPoolRan?: number;
  childPoolQueued?: number;
  /** Threads the child's pool could not start (RLIMIT_NPROC, a cgroup's pids.max). */
  childPoolStartFailures?: number;
  madviseErrors?: number;
  madvisePerMapping?: boolean;
}

/** A thread of this process that the fork barrier does not park (Linux: its tid and its comm name). */
export interface ForeignThread {
  tid: number;
  name: string;
}

export interface NativeSelfCheck {
  ok: boolean;
  v8Posted: number;
  uvPosted: number;
  arrived: number;
  /** Of `arrived`: libuv threadpool threads (a busy one has not arrived). */
  threadpoolArrived: number;
  probesArrived: number;
  /** 'ok': a task and a job posted through Node's platform would reach a child's own pool. */
  workerRouting: 'ok' | 'off' | 'not run' | 'incomplete' | 'no vtable slots';
  workerPostsRouted: number;
}

export declare class NativeFdWatcher {
  constructor(fd: number, callback: (status: number, events: number) => void);
  start(events: number): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeAddon {
  setErrorFactory(factory: (errno: number, syscall: string, text: string) => Error): void;
  strerror(errno: number): string;

  socket(domain: number, type: number, protocol?: number): number;
  setsockopt(fd: number, level: number, name: number, value: number): void;
  getsockopt(fd: number, level: number, name: number): number;
  /** (fd, host, port) for IPv4/IPv6; (fd, path) for a unix socket. */
  bind(fd: number, address: string, port?: number): void;
  listen(fd: number, backlog: number): void;
  accept(fd: number, flags?: number): NativeAddress & { fd: number };
  connect(fd: number, address: string, port?: number): void;
  getsockname(fd: number): NativeAddress;
  getpeername(fd: number): NativeAddress;
  read(fd: number, buffer: Uint8Array, offset?: number, length?: number): number;
  write(fd: number, buffer: Uint8Array, offset?: number, length?: number): number;
  recv(fd: number, buffer: Uint8Array, offset: number, length: number, flags: number): number;
  send(fd: number, buffer: Uint8Array, offset: number, length: number, flags: number): number;
  shutdown(fd: number, how: number): void;
  close(fd: number): void;
  pipe(): [number, number];
  poll(fds: { fd: number; events: number }[], timeoutMs: number): number[];
  fcntl(fd: number, cmd: number, arg?: number): number;

  _exit(code: number): never;
  remapHuge(address: number, length: number, prot: number): void;
  waitpid(pid: number, options: number): NativeWaitResult;
  waitidExited(): number;
  mmapShared(length: number): ArrayBuffer;
  setParentDeathSignal(signo: number): void;
  kill(pid: number, signal: number): void;
  getpid(): number;
  getppid(): number;
  loopRequests(): number;
  getrlimit(resource: number): { soft: number; hard: number };
  setrlimit(resource: number, soft: number, hard: number): void;

  sigaction(signo: number, disposition: -1 | 0 | 1 | 2, flags?: number): NativeSigaction;
  watchSignals(callback: (totalDeliveries: number) => void): void;
  unwatchSignals(): void;
  sigchldDeliveries(): number;
  sigprocmask(how: number, signals: number[]): number[];

  fork(): number;
  setChildWorkers(n: number): void;
  settleHeap(gcExposed: boolean): void;
  finishMarking(gcExposed: boolean): boolean;
  startMarking(): boolean;
  isMarking(): boolean;
  forkSelfCheck(timeoutMs: number, probeMs: number): NativeSelfCheck;
  forkInfo(): NativeForkInfo;
  forkHold(): void;
  forkRelease(): void;
  setBarrierTimeout(ms: number): void;
  setThreadCensus(on: boolean): void;
  threadCensus(): ForeignThread[];
  inheritedConnections(): string[];
  setLoopDryCallback(callback: () => void): void;

  FdWatcher: typeof NativeFdWatcher;

  socketConstants: Record<string, number>;
  processConstants: Record<string, number>;
  signalConstants: Record<string, number>;
  watchConstants: Record<string, number>;
}
