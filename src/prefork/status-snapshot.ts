// The status view's data: the master and one record per worker, built from what the master knows
// (its workers, its state) and the scoreboard (what each worker is doing), plus each process's
// memory from /proc. The control socket and the status page send it as JSON; `forkserve status`
// prints it as a table. Field names are the JSON's, kept stable for machines (`version` changes
// when one changes meaning).

import type { SlotInfo } from './scoreboard';
import { readProcessMemory } from './process-memory';

export const STATUS_VERSION = 1;
/** A worker whose event loop has not ticked for this long shows as stuck (it ticks every 250 ms or more often). */
export const STUCK_AFTER_MS = 2000;

/**
 *   booting   forked, not accepting yet (its postFork hook runs)
 *   idle      accepting, no request in flight
 *   busy      a request in flight
 *   stopping  on its way out: see `stopping` for why
 *   stuck     its event loop has not ticked for STUCK_AFTER_MS (a handler blocks it)
 */
export type WorkerState = 'booting' | 'idle' | 'busy' | 'stopping' | 'stuck';

/**
 *   retiring   the master told it to stop (HUP, TTOU)
 *   leaving    it stops on its own (--max-requests)
 *   shutdown   the master stops (TERM, INT, QUIT)
 *   timed out  killed for --timeout
 */
export type StopReason = 'retiring' | 'leaving' | 'shutdown' | 'timed out';

export interface WorkerStatus {
  pid: number;
  /** Its scoreboard slot. */
  slot: number;
  state: WorkerState;
  /** Why it is stopping, else null (a stuck worker may be stopping too). */
  stopping: StopReason | null;
  /**
   * The request in flight ("GET /path"; the most recent one when several are), else null. Its
   * query string shows as "?…": queries carry tokens, and the status page is readable by anyone
   * who reaches it.
   */
  request: string | null;
  /** For how long `request` has been in flight, else null. */
  requestMs: number | null;
  /** Requests in flight (several with many connections or pipelining). */
  inFlight: number;
  /** Connections open. */
  connections: number;
  /** Requests finished (answered or aborted) since the worker was forked. */
  requests: number;
  /** Since its event loop last ticked. */
  sinceTickMs: number;
  /** Since its fork. */
  ageMs: number;
  rssKb: number | null;
  pssKb: number | null;
}

export interface MasterStatus {
  pid: number;
  /** running, or stopping (TERM: graceful) or quitting (INT, QUIT). */
  state: string;
  uptimeMs: number;
  /** How many workers the master keeps (-w, changed by TTIN and TTOU). */
  workersTarget: number;
  rssKb: number | null;
  pssKb: number | null;
}

export interface StatusSnapshot {
  version: number;
  /** When it was taken, ms since the epoch. */
  time: number;
  master: MasterStatus;
  /** In slot order (stable rows). */
  workers: WorkerStatus[];
}

/** What the master knows about one of its workers. */
export interface WorkerView {
  pid: number;
  /** Told to stop (HUP, TTOU). */
  retiring: boolean;
  /** Killed for --timeout. */
  timedOut: boolean;
  slot: SlotInfo;
}

export interface MasterView {
  state: string;
  target: number;
  workers: WorkerView[];
}

function stopReason(w: WorkerView, masterState: string): StopReason | null {
  if (w.timedOut) return 'timed out';
  if (w.retiring) return 'retiring';
  if (w.slot.leaving) return 'leaving';
  if (masterState !== 'running') return 'shutdown';
  return null;
}

function workerState(w: WorkerView, stopping: StopReason | null): WorkerState {
  // A booting worker has not started ticking: its tick says nothing yet.
  if (!w.slot.ready) return stopping ? 'stopping' : 'booting';
  if (w.slot.sinceTickMs > STUCK_AFTER_MS) return 'stuck';
  if (stopping) return 'stopping';
  return w.slot.busy > 0 ? 'busy' : 'idle';
}

/** The snapshot of a master and its workers at `now` (reads /proc for memory). */
export function buildSnapshot(view: MasterView, now = Date.now()): StatusSnapshot {
  const workers = [...view.workers].sort((a, b) => a.slot.index - b.slot.index).map((w): WorkerStatus => {
    const stopping = stopReason(w, view.state);
    const busy = w.slot.busy > 0 && w.slot.request !== null;
    return {
      pid: w.pid,
      slot: w.slot.index,
      state: workerState(w, stopping),
      stopping,
      request: busy ? withoutQuery(w.slot.request!) : null,
      requestMs: busy ? Math.max(0, w.slot.requestMs) : null,
      inFlight: Math.max(0, w.slot.busy),
      connections: Math.max(0, w.slot.open),
      requests: w.slot.requests,
      sinceTickMs: Math.max(0, w.slot.sinceTickMs),
      ageMs: Math.max(0, w.slot.ageMs),
      ...readProcessMemory(w.pid),
    };
  });
  return {
    version: STATUS_VERSION,
    time: now,
    master: {
      pid: process.pid,
      state: view.state,
      uptimeMs: Math.round(process.uptime() * 1000),
      workersTarget: view.target,
      ...readProcessMemory(process.pid),
    },
    workers,
  };
}

/** "GET /slow?token=SECRET" -> "GET /slow?…". */
export function withoutQuery(request: string): string {
  const at = request.indexOf('?');
  return at < 0 ? request : `${request.slice(0, at)}?…`;
}
