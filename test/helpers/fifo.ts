// A named pipe whose reader is open but reads only when told: a stdout or stderr nobody reads, for
// tests of output that must not block on it (its 64 KB fill and stay full until drain()).
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { run } from './procs';

export interface UnreadPipe {
  /** The write end, to hand to a child's stdio: the caller closes it once the child has it. */
  writer: number;
  /** Reads everything the pipe holds now, without waiting; returns all read so far. */
  drain(): string;
  /** Closes the read end. */
  close(): void;
}

export async function unreadPipe(path: string): Promise<UnreadPipe> {
  const made = await run('mkfifo', [path]);
  expect(made.code, made.stderr).toBe(0);
  // The reader first, non-blocking (so the writer's open does not wait for one).
  const reader = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writer = fs.openSync(path, fs.constants.O_WRONLY);
  const buf = Buffer.alloc(1 << 16);
  let text = '';
  let closed = false;
  return {
    writer,
    drain: () => {
      for (;;) {
        let n = 0;
        try {
          n = fs.readSync(reader, buf, 0, buf.length, null);
        } catch {
          return text; // EAGAIN: empty
        }
        if (n <= 0) return text;
        text += buf.toString('latin1', 0, n);
      }
    },
    close: () => {
      if (closed) return;
      closed = true;
      fs.closeSync(reader);
    },
  };
}
