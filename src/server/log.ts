// Output for servers whose loops block in accept(): the event loop does not run there, so stdout
// must be written synchronously (and a forked child must not leave bytes queued in libuv when it
// calls _exit()). EAGAIN on a non-blocking stdout pipe is waited out with poll().

import * as fs from 'node:fs';
import { POLLOUT, poll } from '../posix';

function writeAllSync(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') poll([{ fd, events: POLLOUT }], 1000);
      else if (code === 'EPIPE') return; // nobody is reading any more
      else if (code !== 'EINTR') throw err;
    }
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
