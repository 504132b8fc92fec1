// concurrent-final moves Node's code onto huge pages before serving (src/server/large-pages.ts):
// the code really is on huge pages (anonymous, executable, AnonHugePages in smaps, inside the
// range node's file maps) and no longer mapped from node's file, the server serves from it, and
// --large-pages off / FORKSERVE_LARGE_PAGES=off leave the code where it was. Where the machine
// cannot do it (not Linux x64, THP "never"), the tests that need it are skipped, visibly.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PROT_READ, remapHuge } from '../../src/posix';
import { codeStretches } from '../../src/server/large-pages';
import { killAll, run, startServer } from '../helpers/procs';

afterEach(killAll);

const thp = (() => {
  try {
    return fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'latin1');
  } catch {
    return '[never]';
  }
})();
const canMove = process.platform === 'linux' && process.arch === 'x64' && !thp.includes('[never]');
const EXE = fs.realpathSync(process.execPath);
// start, end, permissions, file offset, inode, path
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/;

/**
 * The executable's own code as `pid` maps it from the file: its r-xp mappings of node's executable
 * that sit where the ELF image put them (address - file offset = the load base, the address of the
 * mapping of offset 0). V8 also maps a second copy of its builtins from the executable near its
 * code range, in some processes and not others, mostly in the mmap area but not always (a CI run
 * on Node 26: 2.1 MB more in one process than another, below 0x7f0000000000); that copy is at
 * another distance from its file offset.
 */
function imageCode(pid: number | 'self'): { from: number; to: number }[] {
  const mine = fs
    .readFileSync(`/proc/${pid}/maps`, 'latin1')
    .split('\n')
    .map((line) => MAPS_LINE.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[6] === EXE)
    .map((m) => ({ from: parseInt(m[1], 16), to: parseInt(m[2], 16), perms: m[3], offset: parseInt(m[4], 16) }));
  const base = mine.find((m) => m.offset === 0)?.from;
  return mine.filter((m) => m.perms === 'r-xp' && m.from - m.offset === base).map(({ from, to }) => ({ from, to }));
}

const bytesOf = (ranges: { from: number; to: number }[]): number => ranges.reduce((n, r) => n + r.to - r.from, 0);

/** Node's code as this test runner maps it (the same binary, never moved here): from, to, bytes. */
function ownCode(): { from: number; to: number; bytes: number } {
  const code = imageCode('self');
  return { from: Math.min(...code.map((r) => r.from)), to: Math.max(...code.map((r) => r.to)), bytes: bytesOf(code) };
}

/** Bytes of node's code that `pid` still maps from the file. */
const fileCodeBytes = (pid: number): number => bytesOf(imageCode(pid));

/** Anonymous executable mappings inside the range of node's code, with their huge-page kB. */
function movedCode(pid: number): { range: string; anonHugeKb: number }[] {
  const { from, to } = ownCode();
  const out: { range: string; anonHugeKb: number }[] = [];
  let cur: { range: string; anonHugeKb: number } | undefined;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'latin1').split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (m) {
      const inside = parseInt(m[1], 16) >= from && parseInt(m[2], 16) <= to;
      cur = inside && m[3] === 'r-xp' && m[5] === '0' && m[6] === '' ? { range: `${m[1]}-${m[2]}`, anonHugeKb: 0 } : undefined;
      if (cur) out.push(cur);
    } else if (cur && line.startsWith('AnonHugePages:')) {
      cur.anonHugeKb = Number(line.split(/\s+/)[1]);
    }
  }
  return out;
}

const hugeCodeKb = (pid: number): number => movedCode(pid).reduce((kb, c) => kb + c.anonHugeKb, 0);

describe.runIf(process.platform === 'linux')('concurrent-final on large pages', () => {
  it.skipIf(!canMove)('serves from its code on huge pages, moved off the file', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0']);
    const moved = movedCode(server.pid);
    const left = fileCodeBytes(server.pid);
    const seen = `moved: ${JSON.stringify(moved)}; left on the file: ${left} of ${ownCode().bytes} bytes`;
    // What moved is off the file, byte for byte, and at least one 2 MiB stretch of it is a huge page.
    const movedBytes = moved.reduce((n, c) => n + (parseInt(c.range.split('-')[1], 16) - parseInt(c.range.split('-')[0], 16)), 0);
    expect(movedBytes, seen).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(ownCode().bytes - left, seen).toBe(movedBytes);
    expect(hugeCodeKb(server.pid), seen).toBeGreaterThanOrEqual(2048);
    const r = await run('curl', ['-sS', '-m', '5', `http://127.0.0.1:${server.port}/hello`], 10_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Hello, World!\n');
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toMatch(/Stopped after 1 connection\b/);
    expect(server.stderr()).toBe('');
  });

  it('--large-pages off and FORKSERVE_LARGE_PAGES=off leave the code on the file', async () => {
    const whole = ownCode().bytes;
    const a = await startServer('concurrent-final.js', ['--port', '0', '--large-pages', 'off']);
    expect(fileCodeBytes(a.pid), JSON.stringify(movedCode(a.pid))).toBe(whole);
    const b = await startServer('concurrent-final.js', ['--port', '0'], { env: { ...process.env, FORKSERVE_LARGE_PAGES: 'off' } });
    expect(fileCodeBytes(b.pid), JSON.stringify(movedCode(b.pid))).toBe(whole);
    // The command line wins over the environment.
    const c = await startServer('concurrent-final.js', ['--port', '0', '--large-pages', 'auto'], { env: { ...process.env, FORKSERVE_LARGE_PAGES: 'off' } });
    expect(fileCodeBytes(c.pid) < whole).toBe(canMove);
  });

  it('remapHuge refuses what it cannot move whole and read-only: EINVAL, with the syscall named', () => {
    const einval = expect.objectContaining({ code: 'EINVAL', syscall: 'mremap' });
    expect(() => remapHuge(4096, 2 * 1024 * 1024, PROT_READ)).toThrow(einval); // unaligned
    expect(() => remapHuge(2 * 1024 * 1024, 4096, PROT_READ)).toThrow(einval);
    expect(() => remapHuge(-2 * 1024 * 1024, 2 * 1024 * 1024, PROT_READ)).toThrow(einval);
    expect(() => remapHuge(Number.NaN, 2 * 1024 * 1024, PROT_READ)).toThrow(einval);
    // Aligned, but not mapped: nothing is read or moved.
    expect(() => remapHuge(2 * 1024 * 1024, 2 * 1024 * 1024, PROT_READ)).toThrow(einval);
  });

  it('a bad --large-pages value is a usage error: exit 2, one line', async () => {
    const r = await run(process.execPath, [`${__dirname}/../../dist/concurrent-final.js`, '--large-pages', 'yes'], 15_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--large-pages must be auto or off, not "yes"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('codeStretches: what of /proc/self/maps is moved', () => {
  const M = 2 * 1024 * 1024;
  const hex = (n: number): string => n.toString(16);
  const line = (from: number, to: number, perms: string, file: string): string => `${hex(from)}-${hex(to)} ${perms} 00000000 08:01 1234   ${file}`;

  it('the 2 MiB-aligned interior of every r-xp mapping of the file that holds the given address, split lines included', () => {
    const maps = [
      line(0x400000, 0xb6f000, 'r--p', '/opt/node/bin/node'),
      line(0xb6f000, 0xc01000, 'r-xp', '/opt/node/bin/node'), // too small to hold an aligned stretch
      line(0xc01000, 0x1a00000, 'r-xp', '/opt/node/bin/node'), // split by an earlier mprotect, say
      line(0x1a00000, 0x2600123, 'r-xp', '/opt/node/bin/node'),
      line(0x2601000, 0x563a000, 'r--p', '/opt/node/bin/node'),
      line(0x7f0000000000, 0x7f0000600000, 'r-xp', '/usr/lib/libc.so.6'),
      line(0x7f0000800000, 0x7f0000c00000, 'r-xp', ''),
    ].join('\n');
    expect(codeStretches(maps, 0x1b00000)).toEqual([
      { start: 0xe00000, length: 0x1a00000 - 0xe00000 },
      { start: 0x1a00000, length: 0x2600000 - 0x1a00000 },
    ]);
    expect(codeStretches(maps, 0x7f0000000100)).toEqual([{ start: 0x7f0000000000, length: 3 * M }]); // libnode, say
  });

  it('nothing when the address is in anonymous memory (already moved, or node started with --use-largepages)', () => {
    const maps = [line(0x600000, 0x2600000, 'r-xp', ''), line(0x2600000, 0x2700000, 'r-xp', '/opt/node/bin/node')].join('\n');
    expect(codeStretches(maps, 0x700000)).toEqual([]);
  });
});
