// The pre-fork master (gunicorn's arbiter, Pitchfork's monitor): it owns the listeners, has the app
// loaded and warm, forks the workers and serves nothing. Signal listeners only record the signal;
// one pass on the event loop (tick) handles what was recorded, in order, then keeps the worker
// count. Only its own children are reaped, by pid (server/own-children.ts), so an app's
// child_process children in the master keep working.
//
//   TERM        graceful: workers stop accepting, close idle connections, finish requests in flight;
//               what is left at --graceful-timeout is SIGKILLed; exit 0
//   INT, QUIT   quick: workers exit now (SIGQUIT); a second INT or QUIT kills them at once; exit 0
//   HUP         new workers first (forked from this master: the same preloaded code), then the old
//               ones stop gracefully
//   TTIN, TTOU  one worker more / one fewer (the oldest stops gracefully)
//   USR1        reopen the access log here (for workers forked later) and in every worker (logrotate)
//   USR2        upgrade: a new master with the new code on the same sockets; this one stops once the
//               new one's workers accept (upgrade.ts)
// Under systemd it says READY=1 once its workers accept, RELOADING=1 / READY=1 around HUP and
// USR2 (and MAINPID= for the new master), STOPPING=1 when it stops (systemd.ts).
// A worker that dies is replaced. Workers that keep dying within a second of their birth stop the
// master with exit code 3 instead of forking forever (gunicorn's "Worker failed to boot").

import type { ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { _exit, afterInheritedConnectionsEnd, fork, forkRefusalCause, getppid, inheritedConnections, isForkRefusal, kill, prepareFork, setParentDeathSignal } from '../posix';
import { describeInheritedConnections } from '../fork-hazards';
import { plural, say, warn } from '../server/log';
import { OwnChildren } from '../server/own-children';
import { describeExit, isCleanExit, signalName, type ChildExit } from '../server/reaper';
import { sentByItself, watchSelfSignals } from '../server/self-signals';
import type { AccessLog } from './access-log';
import type { Hooks, ServerInfo } from './config';
import { closeListeners, type PreforkListener } from './listeners';
import { Scoreboard } from './scoreboard';
import { listenStatusPage } from './status-page';
import { buildSnapshot, type StatusSnapshot } from './status-snapshot';
import { listenStatusSocket, type StatusListener } from './status-socket';
import { notify } from './systemd';
import { startNewMaster, type Inherited } from './upgrade';
import { ignoreMasterSignals, runWorker, type WorkerOptions } from './worker';
import { CRASH_WINDOW_MS, CrashBackoff, isBootFailure } from './worker-deaths';

export const EXIT_BOOT_FAILURE = 3;
/** Deaths at boot in a row (worker-deaths.ts: isBootFailure) that halt the master. */
const MAX_BOOT_FAILURES = 5;

const SIG = os.constants.signals;
type MasterSignal = 'SIGTERM' | 'SIGINT' | 'SIGQUIT' | 'SIGHUP' | 'SIGTTIN' | 'SIGTTOU' | 'SIGUSR2' | 'SIGUSR1';
// (A listener for SIGUSR1 also keeps Node from starting its inspector on it.)
const HANDLED: MasterSignal[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR2', 'SIGUSR1'];
/** How soon the master tries again after a fork that failed (a busy threadpool, a process limit). */
const SPAWN_RETRY_MS = 1000;
/** The status snapshot is made at most this often (the page polls it every second). */
const SNAPSHOT_MS = 1000;
/** How often the master looks whether its new workers accept yet (readiness). */
const READY_POLL_MS = 20;

/** Scoreboard slots: the most workers at once (TTIN beyond it is refused with a warning). */
const SLOTS = 1024;

export interface MasterOptions {
  listeners: PreforkListener[];
  /** Started by an upgrade: tells the old master when this one is ready. */
  upgrade?: Inherited;
  workers: number;
  gracefulTimeoutMs: number;
  /** A worker whose event loop has not ticked for this long is killed and replaced (0: never). */
  timeoutMs: number;
  maxRequests: number;
  maxRequestsJitter: number;
  /** Connections a worker holds at once before it stops accepting (--worker-connections). */
  workerConnections: number;
  makeServe: WorkerOptions['makeServe'];
  /** --no-preload: loads the app in each worker, after the fork and before postFork (a failure: boot error). */
  loadInWorker?: () => Promise<void>;
  /** --access-log: open here, inherited by every worker. */
  accessLog?: AccessLog;
  hooks?: Hooks;
  /** What the hooks are told about the server. */
  addresses: ServerInfo['addresses'];
  /** --status-socket: the control socket's path (status-socket.ts). */
  statusSocket?: string;
  /** --status-page: where the HTML status page listens (status-page.ts). */
  statusPage?: { host: string; port: number };
}

/** A worker whose postFork hook failed exits with this (gunicorn's WORKER_BOOT_ERROR). */
export const EXIT_WORKER_BOOT_ERROR = 3;

interface Worker {
  pid: number;
  born: number;
  slot: number;
  /** Told to stop (HUP, TTOU): not counted towards the target any more. */
  retiring: boolean;
  /** The HUP generation it was forked in: a HUP replaces the workers of earlier ones. */
  generation: number;
  timedOut: boolean;
}

export class Master {
  private readonly workers = new Map<number, Worker>();
  private readonly children = new OwnChildren((e) => this.onChildExit(e));
  private readonly recorded: MasterSignal[] = [];
  private readonly exits: ChildExit[] = [];
  private target: number;
  private state: 'running' | 'stopping' | 'quitting' = 'running';
  private scheduled: NodeJS.Immediate | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private bootFailures = 0;
  /** Crashes of workers that served: replaced, with a pause when they come fast. */
  private readonly crashes = new CrashBackoff(() => this.target);
  /** The back-off is on (said once until crashes slow down). */
  private crashBackoff = false;
  private isWorker = false;
  /** Incremented by each HUP: workers of an earlier generation are replaced, one new one at a time. */
  private generation = 0;
  /** A fork failed: the master keeps the workers it has and tries again (the retry timer). */
  private spawnRetry: NodeJS.Timeout | undefined;
  /** Why forks fail, while they do (said once, and again when it changes). */
  private spawnFailure: string | undefined;
  private readonly listeners = new Map<MasterSignal, () => void>();
  private readonly scoreboard = new Scoreboard(SLOTS);
  /** The new master of an upgrade in progress. */
  private newMaster: ChildProcess | undefined;
  /** A new master took over: leave the socket files to it, do not tell systemd we stop. */
  private upgraded = false;
  private listenersClosed = false;
  /** The socket files are this master's to remove (a new master's only once it took over). */
  private ownsSocketFiles: boolean;
  private readonly readyWaiters: (() => void)[] = [];
  /** --status-socket and --status-page: the master's own; every worker closes them first thing. */
  private readonly status: StatusListener[] = [];
  private readyPoll: NodeJS.Timeout | undefined;
  private lastSnapshot: { at: number; snapshot: StatusSnapshot } | undefined;

  constructor(private readonly options: MasterOptions) {
    this.target = options.workers;
    this.ownsSocketFiles = !options.upgrade;
  }

  start(): void {
    prepareFork();
    watchSelfSignals();
    for (const sig of HANDLED) {
      const listener = (): void => {
        this.recorded.push(sig);
        this.wake();
      };
      this.listeners.set(sig, listener);
      process.on(sig, listener);
    }
    // The master watches nothing but signals (unref'd in Node): this keeps it alive, and reaps
    // should a SIGCHLD be missed.
    this.keepAlive = setInterval(() => {
      this.children.reap();
      this.checkTimeouts();
    }, 1000);
    this.tick();
    if (this.isWorker) return;
    this.whenWorkersAccept(() => {
      if (this.options.upgrade) {
        this.options.upgrade.ready(); // the old master stops now, and tells systemd
        this.ownsSocketFiles = true;
      } else {
        this.notify('READY=1', `STATUS=${plural(this.target, 'worker', 'workers')}`);
      }
    });
  }

  /** Runs `then` once as many workers as the target accept (all booted, postFork done). */
  private whenWorkersAccept(then: () => void): void {
    this.readyWaiters.push(then);
    this.readyPoll ??= setInterval(() => {
      if (this.isWorker) return;
      if (this.state !== 'running') {
        // Stopping: never "ready" any more (an upgrade's old master must not stop for it).
        clearInterval(this.readyPoll);
        this.readyPoll = undefined;
        this.readyWaiters.length = 0;
        return;
      }
      const accepting = this.current().filter((w) => this.scoreboard.read(w.slot).accepting).length;
      if (accepting < this.target) return;
      clearInterval(this.readyPoll);
      this.readyPoll = undefined;
      for (const waiter of this.readyWaiters.splice(0)) waiter();
    }, READY_POLL_MS);
  }

  /**
   * Opens --status-socket and --status-page (before start(): every worker closes them). The new
   * master of an upgrade puts its socket at the path when it takes over, and waits for the old
   * master's page port.
   */
  async listenStatus(): Promise<string[]> {
    const { statusSocket, statusPage, upgrade } = this.options;
    const snapshot = (): StatusSnapshot => this.snapshot();
    try {
      if (statusSocket !== undefined) this.status.push(await listenStatusSocket(statusSocket, snapshot, { takeOver: Boolean(upgrade) }));
      if (statusPage) this.status.push(await listenStatusPage({ ...statusPage, waitForPort: Boolean(upgrade) }, snapshot));
    } catch (err) {
      for (const l of this.status.splice(0)) l.close();
      throw err;
    }
    const publish = (): void => {
      for (const l of this.status) l.publish();
    };
    if (upgrade) this.whenWorkersAccept(publish);
    else publish();
    return this.status.map((l) => l.line); // for the caller to print after the serving line
  }

  /**
   * The master and its workers, as the status socket and page show them (status-snapshot.ts): made
   * at most once per SNAPSHOT_MS (each reads every worker's /proc smaps_rollup; 20 connections to
   * the page held the master at 100% CPU), the same one served to everyone meanwhile.
   */
  snapshot(): StatusSnapshot {
    const now = Date.now();
    if (this.lastSnapshot && now - this.lastSnapshot.at < SNAPSHOT_MS) return this.lastSnapshot.snapshot;
    const snapshot = this.freshSnapshot(now);
    this.lastSnapshot = { at: now, snapshot };
    return snapshot;
  }

  private freshSnapshot(now: number): StatusSnapshot {
    const workers = [...this.workers.values()].map((w) => ({ pid: w.pid, retiring: w.retiring, timedOut: w.timedOut, slot: this.scoreboard.read(w.slot, now) }));
    return buildSnapshot({ state: this.state, target: this.target, workers }, now);
  }

  private wake(): void {
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.tick();
    });
  }

  private onChildExit(e: ChildExit): void {
    this.exits.push(e);
    this.wake();
  }

  /** Handles what was recorded since the last pass, then keeps the worker count. */
  private tick(): void {
    if (this.isWorker) return;
    for (const e of this.exits.splice(0)) this.handleExit(e);
    for (const sig of this.recorded.splice(0)) {
      this.handleSignal(sig);
      if (this.isWorker) return;
    }
    if (this.state !== 'running') {
      if (this.workers.size === 0) this.exit(0);
      return;
    }
    this.spawnMissing();
    if (this.isWorker) return; // a worker forked in this pass returns through here
    this.replaceOld();
    if (this.isWorker) return;
    this.retireExtra();
  }

  private handleExit(e: ChildExit): void {
    const w = this.workers.get(e.pid);
    if (!w) return;
    this.workers.delete(e.pid);
    const slot = this.scoreboard.read(w.slot);
    const recycled = slot.leaving;
    this.scoreboard.free(w.slot);
    this.runHook('workerExit', () =>
      this.options.hooks?.workerExit?.({ pid: w.pid, slot: w.slot }, { exitCode: e.exitCode, signal: e.signal === null ? null : signalName(e.signal) }),
    );
    const expected = w.retiring || w.timedOut || recycled || this.state !== 'running';
    // A crash names the request it happened in (the scoreboard still has it).
    const during = slot.request ? `, serving ${slot.request} (for ${(slot.requestMs / 1000).toFixed(1)} s)` : '';
    if (!w.timedOut && (!expected || !isCleanExit(e))) warn(`Worker ${e.pid} ${describeExit(e)}${during}`);
    if (expected) return;
    const now = Date.now();
    if (isBootFailure({ ...e, ageMs: now - w.born, ready: slot.ready, requests: slot.requests, busy: slot.busy }, EXIT_WORKER_BOOT_ERROR)) {
      if (++this.bootFailures >= MAX_BOOT_FAILURES) {
        warn(`${plural(this.bootFailures, 'worker', 'workers')} in a row died at boot, before serving a request: stopping`);
        this.halt(EXIT_BOOT_FAILURE);
      }
      return;
    }
    this.bootFailures = 0;
    // A crash (it served, or was killed from outside), or an exit nobody asked for: replaced, after
    // a pause if they come fast.
    const wait = this.crashes.crashed(now);
    if (wait > 0 && !this.spawnRetry) {
      if (!this.crashBackoff) warn(`Workers are dying fast (more than ${plural(this.target, 'crash', 'crashes')} within ${CRASH_WINDOW_MS / 1000} s): replacing them after a pause, up to 2 s`);
      this.crashBackoff = true;
      this.spawnRetry = setTimeout(() => {
        this.spawnRetry = undefined;
        this.wake();
      }, wait);
    } else if (wait === 0) {
      this.crashBackoff = false;
    }
  }

  private handleSignal(sig: MasterSignal): void {
    switch (sig) {
      case 'SIGTERM':
        if (this.state === 'running') this.stop('graceful');
        return;
      case 'SIGINT':
      case 'SIGQUIT': {
        // A second one kills at once, unless the app sent it to itself (a shutdown hook re-raising it).
        const fromItself = sentByItself(sig);
        if (this.state !== 'quitting') this.stop('quick');
        else if (!fromItself) this.killAll(SIG.SIGKILL);
        return;
      }
      case 'SIGHUP':
        if (this.state !== 'running') return;
        say(`Hang up: replacing ${plural(this.current().length, 'worker', 'workers')}`);
        this.notify('RELOADING=1');
        this.generation++;
        if (this.spawnFailure !== undefined) this.sayForksFailing('Hang up');
        this.replaceOld();
        if (this.isWorker) return;
        this.whenWorkersAccept(() => this.notify('READY=1'));
        return;
      case 'SIGUSR2':
        if (this.state === 'running') this.upgrade();
        return;
      case 'SIGTTIN':
        if (this.state !== 'running') return;
        this.target++;
        // (The fork is tried by the loop: a first failure is said there.)
        if (this.spawnFailure !== undefined) this.sayForksFailing('TTIN');
        return;
      case 'SIGTTOU':
        if (this.state === 'running' && this.target > 1) this.target--;
        return;
      case 'SIGUSR1':
        this.options.accessLog?.reopen();
        this.killAll(SIG.SIGUSR1);
        return;
    }
  }

  /** USR2: start the new master; stop once it is ready, or keep serving if it fails. */
  private upgrade(): void {
    if (this.newMaster) {
      warn(`Upgrade already in progress (new master pid ${this.newMaster.pid}): ignoring USR2`);
      return;
    }
    this.notify('RELOADING=1');
    this.newMaster = startNewMaster(this.options.listeners, {
      ready: (pid) => {
        if (this.isWorker || this.state !== 'running') return;
        say(`Upgrade: new master ${pid} is ready; stopping this one (${process.pid})`);
        // systemd follows the new master (NotifyAccess=main accepts MAINPID from the current main pid).
        this.notify(`MAINPID=${pid}`, 'READY=1');
        this.upgraded = true;
        this.stop('graceful');
      },
      failed: (pid, why) => {
        if (this.isWorker) return;
        this.newMaster = undefined;
        if (this.state !== 'running') return;
        warn(`Upgrade failed: the new master (pid ${pid}) ${why} before it was ready; still serving here (${process.pid})`);
        this.notify('READY=1');
      },
    });
    say(`Upgrade: starting a new master (pid ${this.newMaster.pid}) with the same arguments`);
  }

  private current(): Worker[] {
    return [...this.workers.values()].filter((w) => !w.retiring);
  }

  private spawnMissing(): void {
    for (let n = this.current().length; n < this.target && !this.isWorker; n++) if (!this.spawn()) return;
  }

  /**
   * HUP: each worker of an earlier generation is replaced by a new one, which is forked first; the
   * old one stops gracefully once its successor exists. If a fork fails the old workers keep
   * serving and the rest is done at the retry.
   */
  private replaceOld(): void {
    for (const old of this.current().filter((w) => w.generation < this.generation)) {
      if (!this.spawn() || this.isWorker) return;
      old.retiring = true;
      this.signal(old.pid, SIG.SIGTERM);
    }
  }

  private retireExtra(): void {
    const live = this.current().sort((a, b) => a.born - b.born);
    for (const w of live.slice(0, Math.max(0, live.length - this.target))) {
      w.retiring = true;
      this.signal(w.pid, SIG.SIGTERM);
    }
  }

  /** Forks a worker; false if it could not (said, and tried again later). True in the worker too. */
  private spawn(): boolean {
    if (this.spawnRetry) return false; // a fork failed a moment ago: wait for the retry
    const slot = this.scoreboard.claim();
    if (slot < 0) {
      warn(`${SLOTS} workers at once is the most the scoreboard holds: not forking another`);
      this.target = this.workers.size;
      return false;
    }
    this.runHook('preFork', () => this.options.hooks?.preFork?.({ slot }));
    const masterPid = process.pid;
    let pid: number;
    try {
      pid = fork();
    } catch (err) {
      this.scoreboard.free(slot);
      if (!isForkRefusal(err)) throw err;
      this.postponeSpawn(err);
      return false;
    }
    if (pid === 0) {
      this.becomeWorker(slot, masterPid);
      return true;
    }
    if (this.spawnFailure !== undefined) say('Forking workers again');
    this.spawnFailure = undefined;
    this.scoreboard.assign(slot, pid);
    this.children.add(pid);
    this.workers.set(pid, { pid, born: Date.now(), slot, retiring: false, timedOut: false, generation: this.generation });
    say(`Booting worker with pid ${pid}`);
    return true;
  }

  /**
   * A fork failed for a reason that passes (a threadpool job, a process limit, a thread the app
   * started in the master): the workers it has keep serving, and the master tries again in
   * SPAWN_RETRY_MS, saying why once (and again if the reason changes).
   */
  private postponeSpawn(err: unknown): void {
    const reason = forkRefusalCause(err);
    if (this.spawnFailure !== reason) warn(`${(err as Error).message}: worker spawn postponed (${plural(this.current().length, 'worker', 'workers')} serving; trying again every ${SPAWN_RETRY_MS / 1000} s)`);
    this.spawnFailure = reason;
    this.spawnRetry = setTimeout(() => {
      this.spawnRetry = undefined;
      this.wake();
    }, SPAWN_RETRY_MS);
  }

  /**
   * A HUP or TTIN while forks are failing (said when they began to): it is taken, and waits for the
   * next fork that succeeds; the workers it has keep serving meanwhile.
   */
  private sayForksFailing(what: string): void {
    warn(`${what}: not done yet, forks are failing (${this.spawnFailure}); ${plural(this.current().length, 'worker', 'workers')} serving, ${this.target} wanted; trying again every ${SPAWN_RETRY_MS / 1000} s`);
  }

  /** Kills and replaces workers whose event loop has not ticked for --timeout, saying what they were doing. */
  private checkTimeouts(): void {
    const { timeoutMs } = this.options;
    if (timeoutMs <= 0 || this.isWorker) return;
    const now = Date.now();
    for (const w of this.workers.values()) {
      if (w.timedOut) continue;
      const info = this.scoreboard.read(w.slot, now);
      if (info.sinceTickMs <= timeoutMs) continue;
      w.timedOut = true;
      const doing = info.request ? `in ${info.request} for ${(info.requestMs / 1000).toFixed(1)} s` : 'while idle';
      warn(`Worker ${w.pid} timed out: its event loop has not run for ${(info.sinceTickMs / 1000).toFixed(1)} s (--timeout ${timeoutMs / 1000}), ${doing}; killing it`);
      this.signal(w.pid, SIG.SIGKILL);
    }
    this.wake();
  }

  /** In the forked child: drop the master's duties, serve. */
  private becomeWorker(slot: number, masterPid: number): void {
    this.isWorker = true;
    // First: the status listeners and their connections came with the fork; only the master answers.
    for (const l of this.status) l.closeInWorker();
    // Until the worker's own handlers are in place, a TERM or QUIT from the master (a HUP right
    // after this fork), or a USR1, is remembered: with no listener at all it would kill this process outright.
    const early: string[] = [];
    const remember = (sig: NodeJS.Signals): void => void early.push(sig);
    process.on('SIGTERM', remember);
    process.on('SIGQUIT', remember);
    process.on('SIGUSR1', remember);
    // A worker still loading the app (--no-preload) or in its postFork hook when the master dies
    // must learn of it too: SIGTERM, remembered till then; a master that died before the death
    // signal was set is no longer the parent.
    if (process.platform === 'linux') setParentDeathSignal(SIG.SIGTERM);
    if (getppid() !== masterPid) early.push('SIGTERM');
    ignoreMasterSignals();
    this.options.upgrade?.closeInWorker();
    this.children.close();
    for (const [sig, listener] of this.listeners) process.removeListener(sig, listener);
    clearInterval(this.keepAlive);
    clearInterval(this.readyPoll);
    clearTimeout(this.deadline);
    clearTimeout(this.spawnRetry);
    if (this.scheduled) clearImmediate(this.scheduled);
    const inherited = inheritedConnections();
    if (inherited.length > 0) say(`Worker ${process.pid} ${describeInheritedConnections(inherited, 'the master')}`);
    const listenFds = this.options.listeners.map((l) => l.fd);
    const { makeServe, timeoutMs, maxRequests, maxRequestsJitter, workerConnections, hooks } = this.options;
    const serve = (): void => {
      runWorker({
        listenFds,
        makeServe,
        masterPid,
        scoreboard: this.scoreboard,
        slot,
        // Often enough that a healthy worker never looks stuck (to --timeout, or to the balancing of
        // accepts, which ignores workers silent for a second).
        tickMs: timeoutMs > 0 ? Math.min(250, timeoutMs / 4) : 250,
        // The jitter is drawn here, in the worker (its randomness is its own), so workers recycle apart.
        maxRequests: maxRequests > 0 ? maxRequests + Math.floor(Math.random() * (maxRequestsJitter + 1)) : 0,
        earlySignals: early,
        accessLog: this.options.accessLog,
        maxConnections: workerConnections,
        gracefulTimeoutMs: this.options.gracefulTimeoutMs,
      });
      process.removeListener('SIGTERM', remember);
      process.removeListener('SIGQUIT', remember);
      process.removeListener('SIGUSR1', remember);
    };
    const { loadInWorker } = this.options;
    // The worker accepts once the app's libraries have let go of the master's connections.
    if (!hooks?.postFork && !loadInWorker) return afterInheritedConnectionsEnd(serve);
    // The worker accepts nothing until it has loaded the app (--no-preload) and its postFork hook
    // has run (and settled, if it is async).
    let step = 'loading the app';
    const failed = (err: unknown): never => {
      warn(`Worker ${process.pid}: ${step} failed: ${(err as Error)?.message ?? String(err)}`);
      return _exit(EXIT_WORKER_BOOT_ERROR);
    };
    const postFork = (): unknown => {
      step = 'postFork';
      return hooks?.postFork?.({ pid: process.pid, slot });
    };
    try {
      Promise.resolve(loadInWorker?.()).then(postFork).then(() => afterInheritedConnectionsEnd(serve), failed);
    } catch (err) {
      failed(err);
    }
  }

  private stop(how: 'graceful' | 'quick'): void {
    this.state = how === 'graceful' ? 'stopping' : 'quitting';
    const n = this.workers.size;
    say(how === 'graceful'
      ? `Shutting down: ${plural(n, 'worker finishes', 'workers finish')} what is in flight (up to ${this.options.gracefulTimeoutMs / 1000} s)`
      : `Shutting down now (${plural(n, 'worker', 'workers')})`);
    clearInterval(this.readyPoll);
    this.readyPoll = undefined;
    if (!this.upgraded) this.notify('STOPPING=1');
    this.abandonUpgrade();
    this.closeListeners();
    this.killAll(how === 'graceful' ? SIG.SIGTERM : SIG.SIGQUIT);
    this.deadline = setTimeout(() => {
      if (this.workers.size > 0) warn(`Killing ${plural(this.workers.size, 'worker', 'workers')} still running after ${this.options.gracefulTimeoutMs / 1000} s`);
      this.killAll(SIG.SIGKILL);
    }, this.options.gracefulTimeoutMs);
  }

  /**
   * A stop during an upgrade stops the upgrade too: the new master is not ready, and the socket
   * files it would have taken over go now. SIGTERM whatever the stop: a new master still loading
   * the app has no handlers yet, and TERM's default ends it cleanly (QUIT's would dump core).
   */
  private abandonUpgrade(): void {
    if (!this.newMaster || this.upgraded) return;
    warn(`Stopping the new master ${this.newMaster.pid} too: the upgrade is abandoned`);
    this.signal(this.newMaster.pid!, SIG.SIGTERM);
    this.newMaster = undefined;
  }

  /**
   * sd_notify, when this master speaks for the service: not a new master of an upgrade until it
   * has taken over (systemd's main pid is still the old one, which tells systemd for it).
   */
  private notify(...state: string[]): void {
    if (this.options.upgrade && !this.ownsSocketFiles) return;
    notify(...state);
  }

  /** Closes the listeners; the socket files go too, unless a new master took them over. */
  private closeListeners(): void {
    if (this.listenersClosed) return;
    this.listenersClosed = true;
    closeListeners(this.options.listeners, this.ownsSocketFiles && !this.upgraded);
  }

  private halt(code: number): void {
    this.abandonUpgrade();
    this.killAll(SIG.SIGKILL);
    this.children.reap();
    this.exit(code);
  }

  private killAll(signo: number): void {
    for (const pid of this.workers.keys()) this.signal(pid, signo);
  }

  private signal(pid: number, signo: number): void {
    try {
      kill(pid, signo);
    } catch {
      /* already gone; its SIGCHLD is on the way */
    }
  }

  /** Runs one of the master's hooks; a throw is logged, not fatal. */
  private runHook(name: string, call: () => unknown): void {
    try {
      call();
    } catch (err) {
      warn(`${name} hook failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  private exit(code: number): never {
    clearTimeout(this.deadline);
    clearTimeout(this.spawnRetry);
    clearInterval(this.keepAlive);
    clearInterval(this.readyPoll);
    this.closeListeners();
    for (const l of this.status) l.close();
    this.runHook('onExit', () => this.options.hooks?.onExit?.({ workers: this.workers.size, addresses: this.options.addresses }));
    if (code === 0) say('Stopped.');
    process.exit(code);
  }
}
