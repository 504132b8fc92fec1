// forkserve's own output to a pipe nobody reads (server/log.ts, dropOutputWhenStalled): a line
// waits at most STALL_WAIT_MS for room, in pieces a pipe takes whole, so that a line longer than a
// pipe takes at once cannot block in write() either. In a throw-away process (test/fixtures).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unreadPipe } from '../helpers/fifo';
import { FIXTURES, until } from '../helpers/procs';

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-output-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a stderr nobody reads, and lines longer than a pipe takes at once', () => {
  it('20 warnings of 10 KB: written in pieces that each wait at most STALL_WAIT_MS, not forever; a line cut short is ended before the count', async () => {
    const pipe = await unreadPipe(path.join(dir, 'stderr.fifo'));
    const took = path.join(dir, 'took');
    const proc = spawn(process.execPath, [path.join(FIXTURES, 'long-warnings.js'), took], { stdio: ['ignore', 'ignore', pipe.writer] });
    fs.closeSync(pipe.writer);
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    try {
      // Before, the third or so line blocked in write() for good: a hang, caught here at 20 s.
      const ms = await until(() => (fs.existsSync(took) ? fs.readFileSync(took, 'utf8') : ''), (t) => t !== '', 'the 20 warnings to return', 20_000);
      expect(Number(ms)).toBeGreaterThanOrEqual(0);
      let text = '';
      const end = Date.now() + 15_000;
      while (!/^after$/m.test(text) && Date.now() < end) {
        text = pipe.drain();
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await exited).toBe(0);
      const lines = text.split('\n').filter(Boolean);
      const count = lines.find((l) => /^forkserve \d+: \d+ lines? of output dropped: nobody read this stderr for a while$/.test(l));
      expect(count, lines.map((l) => l.slice(0, 60)).join('\n')).toBeDefined();
      expect(lines[lines.length - 1]).toBe('after');
      // Every line is a whole warning, the count, 'after', or at most one cut short (ended before the count).
      const other = lines.filter((l) => l !== count && l !== 'after' && !/^\d+ x{10000}$/.test(l));
      expect(other.length, other.map((l) => l.slice(0, 60)).join('\n')).toBeLessThanOrEqual(1);
    } finally {
      proc.kill('SIGKILL');
      pipe.close();
    }
  }, 60_000);
});
