// Output for servers whose loops block in accept(): the event loop does not run there, so stdout
// must be written synchronously (and a forked child must not leave bytes queued in libuv when it
// calls _exit()). EAGAIN on a non-blocking stdout pipe is waited out with poll().
//
// A server that must keep serving whatever happens to its output (forkserve: dropOutputWhenStalled)
// does not wait for a pipe or socket nobody reads: a full stdout pipe froze every worker in write()
// (the heartbeat then killed them as stuck) and the master in its own log line. There, a line waits
// at most STALL_WAIT_MS for room; once one is dropped, the next are dropped at once until the reader
// takes bytes again, and then one line says how many were lost.

import * as fs from 'node:fs';
import { POLLERR, POLLHUP, POLLOUT, poll } from '../posix';

/** A write that stopped: its error, and how many of the bytes went out before it (a line cut short, if not 0). */
export type WriteFailure = NodeJS.ErrnoException & { written: number };

/**
 * Writes bytes[start, end) to fd synchronously: partial writes continue, EINTR is retried, EAGAIN (a
 * non-blocking pipe that is full) is waited out with poll(). Returns the error that stopped it
 * (EPIPE: nobody reads any more; ENOSPC ...), or undefined once everything is written.
 */
export function writeFully(fd: number, bytes: Uint8Array, start = 0, end = bytes.length): WriteFailure | undefined {
  const from = start;
  while (start < end) {
    try {
      start += fs.writeSync(fd, bytes, start, end - start);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') poll([{ fd, events: POLLOUT }], 1000);
      else if (code !== 'EINTR') return Object.assign(err as NodeJS.ErrnoException, { written: start - from });
    }
  }
  return undefined;
}

/** How long a line waits for room in a pipe that stopped taking bytes, before it is dropped. */
export const STALL_WAIT_MS = 500;
let dropWhenStalled = false;
/** Lines dropped on each descriptor since its reader stopped reading. */
const dropped = new Map<number, number>();
/** Descriptors whose last line was dropped after part of it went out: the next write ends it first. */
const cutShort = new Set<number>();
const pipeLike = new Map<number, boolean>();

/** From now on, output to a pipe or socket nobody reads is dropped (counted), not waited for. */
export function dropOutputWhenStalled(): void {
  dropWhenStalled = true;
}

/**
 * Whether `fd` takes a write now (with dropOutputWhenStalled; always true otherwise, and for files):
 * a pipe, socket or terminal with room within STALL_WAIT_MS (none once it has stalled). A false
 * counts one line dropped; the first true after some were says how many, on the same descriptor.
 * Room means a free pipe buffer page: a write of up to PIPE_BUF bytes does not block.
 */
export function takesWrite(fd: number): boolean {
  if (!dropWhenStalled || !hasReader(fd)) return true;
  const lost = dropped.get(fd);
  const revents = poll([{ fd, events: POLLOUT }], lost === undefined ? STALL_WAIT_MS : 0)[0];
  if (revents & (POLLOUT | POLLHUP | POLLERR)) { // (a write then says EPIPE, if that is it)
    if (lost !== undefined) {
      dropped.delete(fd);
      const end = cutShort.delete(fd) ? '\n' : '';
      writeFully(fd, Buffer.from(`${end}forkserve ${process.pid}: ${plural(lost, 'line', 'lines')} of output dropped: nobody read this ${fd === 2 ? 'stderr' : fd === 1 ? 'stdout' : 'log'} for a while\n`));
    }
    return true;
  }
  dropped.set(fd, (lost ?? 0) + 1);
  return false;
}

/** A pipe, socket or terminal: something a reader empties (a write can wait for it), not a file. */
export function hasReader(fd: number): boolean {
  let has = pipeLike.get(fd);
  if (has === undefined) {
    try {
      const st = fs.fstatSync(fd);
      has = st.isFIFO() || st.isSocket() || st.isCharacterDevice();
    } catch {
      has = false;
    }
    pipeLike.set(fd, has);
  }
  return has;
}

/** A pipe takes a write of at most this many bytes whole once poll() says it has room (POSIX's PIPE_BUF). */
const PIPE_BUF = 4096;

function writeAllSync(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  // In pieces a pipe takes without blocking (one, for most lines): a long line to a pipe nobody
  // reads waits STALL_WAIT_MS once, not forever.
  for (let start = 0; start < bytes.length; start += PIPE_BUF) {
    if (!takesWrite(fd)) {
      if (start > 0) cutShort.add(fd);
      return;
    }
    const err = writeFully(fd, bytes, start, Math.min(bytes.length, start + PIPE_BUF));
    if (err && err.code !== 'EPIPE') throw err; // EPIPE: nobody is reading any more
    if (err) return;
  }
}

/** Writes a line to stdout, synchronously. */
export function say(line: string): void {
  writeAllSync(1, `${line}\n`);
}

/** Writes text to stdout as is, synchronously. */
export function sayRaw(text: string): void {
  writeAllSync(1, text);
}

/** Writes a line to stderr, synchronously. */
export function warn(line: string): void {
  writeAllSync(2, `${line}\n`);
}

/** "1 child", "3 children": a count with its noun. */
export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
