// Output for servers whose loops block in accept(): the event loop does not run there, so stdout
// must be written synchronously (and a forked child must not leave bytes queued in libuv when it
// calls _exit()). EAGAIN on a non-blocking stdout pipe is waited out with poll().

import * as fs from 'node:fs';
import { POLLOUT, poll } from '../posix';

/**
 * Writes bytes[start, end) to fd synchronously: partial writes continue, EINTR is retried, EAGAIN (a
 * non-blocking pipe that is full) is waited out with poll(). Returns the error that stopped it
 * (EPIPE: nobody reads any more; ENOSPC ...), or undefined once everything is written.
 */
export function writeFully(fd: number, bytes: Uint8Array, start = 0, end = bytes.length): NodeJS.ErrnoException | undefined {
  while (start < end) {
    try {
      start += fs.writeSync(fd, bytes, start, end - start);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') poll([{ fd, events: POLLOUT }], 1000);
      else if (code !== 'EINTR') return err as NodeJS.ErrnoException;
    }
  }
  return undefined;
}

function writeAllSync(fd: number, text: string): void {
  const err = writeFully(fd, Buffer.from(text));
  if (err && err.code !== 'EPIPE') throw err; // EPIPE: nobody is reading any more
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
