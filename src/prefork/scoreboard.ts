// The scoreboard: one slot per worker in memory the master and every worker share (mmapShared,
// made before the first fork), as Apache's mod_status scoreboard and Unicorn's heartbeat do it. A
// worker writes only its own slot: a tick from its event loop, requests served, and the request it
// is in (method, path, since when). The master reads every slot: a worker whose tick is older than
// --timeout is stuck, and the slot says in what; the status socket and page show every slot
// (status-snapshot.ts).

import { mmapShared } from '../posix';

const SLOT_BYTES = 512;
const TEXT_BYTES = SLOT_BYTES - 64;
// Int32 fields (index into an Int32Array over the slot) and Float64 fields (into a Float64Array).
const I_PID = 0;
const I_BUSY = 1; // requests in flight
const I_TEXT_LENGTH = 2;
const I_LEAVING = 3; // 1: the worker stops on its own (--max-requests), expect its exit
const I_OPEN = 4; // connections open
const I_ACCEPTING = 5; // 1 while the worker accepts
const I_READY = 6; // 1 once the worker has started accepting (booted); stays 1 while it stops
// Int32 fields take bytes 0-31 (indexes 0-7), Float64 fields bytes 32-63 (indexes 4-7).
const F_TICK = 4; // ms since the epoch
const F_REQUESTS = 5; // served (finished)
const F_REQUEST_START = 6;
const F_BOOTED = 7;
const TEXT_OFFSET = 64;

export interface SlotInfo {
  index: number;
  pid: number;
  /** ms since the worker's event loop last ticked. */
  sinceTickMs: number;
  requests: number;
  busy: number;
  /** The worker said it is stopping on its own (--max-requests). */
  leaving: boolean;
  /** The request most recently started while busy ("GET /path"), and for how long. */
  request: string | null;
  requestMs: number;
  ageMs: number;
  /** Connections open. */
  open: number;
  /** Accepting connections now. */
  accepting: boolean;
  /** Has started accepting (false while the worker boots: its postFork hook, its first tick). */
  ready: boolean;
}

export class Scoreboard {
  private readonly memory: ArrayBuffer;
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  private readonly bytes: Uint8Array;
  readonly slots: number;

  constructor(slots: number) {
    this.slots = slots;
    this.memory = mmapShared(slots * SLOT_BYTES);
    this.ints = new Int32Array(this.memory);
    this.floats = new Float64Array(this.memory);
    this.bytes = new Uint8Array(this.memory);
  }

  private i(index: number, field: number): number {
    return (index * SLOT_BYTES) / 4 + field;
  }

  private f(index: number, field: number): number {
    return (index * SLOT_BYTES) / 8 + field;
  }

  // --- the master ------------------------------------------------------------------------------

  /** A free slot for a worker about to be forked (-1 when all are taken). */
  claim(): number {
    for (let index = 0; index < this.slots; index++) {
      if (Atomics.load(this.ints, this.i(index, I_PID)) === 0) {
        this.bytes.fill(0, index * SLOT_BYTES, (index + 1) * SLOT_BYTES);
        Atomics.store(this.ints, this.i(index, I_PID), -1); // taken, pid to come
        this.floats[this.f(index, F_TICK)] = Date.now();
        this.floats[this.f(index, F_BOOTED)] = Date.now();
        return index;
      }
    }
    return -1;
  }

  assign(index: number, pid: number): void {
    Atomics.store(this.ints, this.i(index, I_PID), pid);
  }

  free(index: number): void {
    Atomics.store(this.ints, this.i(index, I_PID), 0);
  }

  read(index: number, now = Date.now()): SlotInfo {
    const busy = this.ints[this.i(index, I_BUSY)];
    const length = Math.min(this.ints[this.i(index, I_TEXT_LENGTH)], TEXT_BYTES);
    const start = index * SLOT_BYTES + TEXT_OFFSET;
    const since = this.floats[this.f(index, F_REQUEST_START)];
    return {
      index,
      pid: this.ints[this.i(index, I_PID)],
      sinceTickMs: now - this.floats[this.f(index, F_TICK)],
      requests: this.floats[this.f(index, F_REQUESTS)],
      busy,
      leaving: this.ints[this.i(index, I_LEAVING)] === 1,
      request: busy > 0 && length > 0 ? Buffer.from(this.bytes.subarray(start, start + length)).toString('utf8') : null,
      requestMs: busy > 0 ? now - since : 0,
      ageMs: now - this.floats[this.f(index, F_BOOTED)],
      open: this.ints[this.i(index, I_OPEN)],
      accepting: this.ints[this.i(index, I_ACCEPTING)] === 1,
      ready: this.ints[this.i(index, I_READY)] === 1,
    };
  }

  // --- a worker, in its own slot ---------------------------------------------------------------

  /**
   * The fewest connections open in a worker that accepts and whose event loop has ticked within
   * `freshMs` (a stuck worker does not count), or Infinity when there is none.
   */
  leastOpen(freshMs: number, now = Date.now()): number {
    let least = Infinity;
    for (let index = 0; index < this.slots; index++) {
      if (this.ints[this.i(index, I_PID)] <= 0 || this.ints[this.i(index, I_ACCEPTING)] !== 1) continue;
      if (now - this.floats[this.f(index, F_TICK)] > freshMs) continue;
      least = Math.min(least, this.ints[this.i(index, I_OPEN)]);
    }
    return least;
  }

  accepting(index: number, on: boolean): void {
    if (on) Atomics.store(this.ints, this.i(index, I_READY), 1);
    Atomics.store(this.ints, this.i(index, I_ACCEPTING), on ? 1 : 0);
  }

  opened(index: number, delta: number): void {
    Atomics.add(this.ints, this.i(index, I_OPEN), delta);
  }

  leaving(index: number): void {
    Atomics.store(this.ints, this.i(index, I_LEAVING), 1);
  }

  tick(index: number): void {
    this.floats[this.f(index, F_TICK)] = Date.now();
  }

  requestStarted(index: number, method: string, path: string): void {
    const start = index * SLOT_BYTES + TEXT_OFFSET;
    const text = Buffer.from(`${method} ${path}`.slice(0, TEXT_BYTES), 'utf8');
    const n = Math.min(text.length, TEXT_BYTES);
    this.bytes.set(text.subarray(0, n), start);
    this.floats[this.f(index, F_REQUEST_START)] = Date.now();
    this.ints[this.i(index, I_TEXT_LENGTH)] = n;
    Atomics.add(this.ints, this.i(index, I_BUSY), 1);
  }

  requestFinished(index: number): void {
    Atomics.sub(this.ints, this.i(index, I_BUSY), 1);
    this.floats[this.f(index, F_REQUESTS)] += 1;
  }
}
