// Node's code on huge pages, for a server that forks per connection (issue 17).
//
// fork() does not copy the page tables of file mappings: every child faults node's machine code in
// again, 4 KiB at a time (a hello child touched 6.5 MB of it, 1,640 pages), and on a machine whose
// hypervisor shadows page tables even a page that is mapped costs microseconds the first time a new
// process touches it (bench/c/page_costs.c). Moved onto anonymous transparent huge pages, the code
// is shared with every child through a few page-table entries that fork() copies: per child a fifth
// (Node 20) to a quarter (Node 26) less CPU and 100-150 fewer page faults on that machine
// (bench/results/fork-floor-2026-12-06-notes.md).
// The cost: the whole text becomes resident and private to the server (24 MB on Node 20, 34 on 22,
// 40 on 24, 42 on 26; children share it), and a copy of it at start (50-100 ms).
//
// Node's own --use-largepages did this at start-up on Node 20 to 24 and is gone in 26; this does it
// in a running process: native remapHuge() copies each 2 MiB-aligned stretch and swaps it in with
// one mremap, which other threads see atomically. Linux on x64 only (what is tested; arm64 would
// also need its branch-protection flag kept); nothing to do when THP is "never". The moved code is
// anonymous memory: perf no longer names node's functions in it, and uprobes on them (eBPF agents
// hooking node's OpenSSL, say) are lost, or kill the process if one is attached during the copy:
// turn it off when profiling or tracing node's own functions.

import * as fs from 'node:fs';
import { PROT_EXEC, PROT_READ, PosixError, nodeCodeAddress, remapHuge } from '../posix';

export const LARGE_PAGES_MODES = ['auto', 'off'] as const;
export type LargePagesMode = (typeof LARGE_PAGES_MODES)[number];

const HUGE_PAGE = 2 * 1024 * 1024;

/** Why this process's code stays where it is, or undefined when it should move. */
export function largePagesSkipReason(mode: LargePagesMode): string | undefined {
  if (mode === 'off') return 'turned off';
  if (process.platform !== 'linux') return 'Linux only';
  if (process.arch !== 'x64') return 'x64 only';
  if (!transparentHugePagesAvailable()) return 'transparent huge pages are off';
  return undefined;
}

function transparentHugePagesAvailable(): boolean {
  try {
    // "always [madvise] never": the bracketed one is in force; remapHuge asks with madvise().
    return !fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'latin1').includes('[never]');
  } catch {
    return false;
  }
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$/;

/**
 * The 2 MiB-aligned stretches of Node's executable code still mapped from its file: the file that
 * maps `inside` (an address in Node's code: the executable, or libnode), in the text of /proc/self/maps.
 */
export function codeStretches(maps = fs.readFileSync('/proc/self/maps', 'latin1'), inside = nodeCodeAddress): { start: number; length: number }[] {
  const lines = maps.split('\n').map((line) => MAPS_LINE.exec(line)).filter((m): m is RegExpExecArray => m !== null);
  const home = lines.find((m) => parseInt(m[1], 16) <= inside && inside < parseInt(m[2], 16));
  const file = home?.[4];
  if (!file || !file.startsWith('/')) return []; // anonymous: already moved (or --use-largepages)
  const out: { start: number; length: number }[] = [];
  for (const m of lines) {
    if (m[3] !== 'r-xp' || m[4] !== file) continue;
    const start = Math.ceil(parseInt(m[1], 16) / HUGE_PAGE) * HUGE_PAGE;
    const end = Math.floor(parseInt(m[2], 16) / HUGE_PAGE) * HUGE_PAGE;
    if (end > start) out.push({ start, length: end - start });
  }
  return out;
}

/**
 * Moves node's code onto huge pages unless largePagesSkipReason says why not. Returns the bytes
 * moved (0 when there was nothing left to move: already done, or node started with
 * --use-largepages). A refusal by the kernel is a warning, not an error: the server then runs as
 * it is.
 */
export function moveCodeToHugePages(mode: LargePagesMode): number {
  if (largePagesSkipReason(mode) !== undefined) return 0;
  let stretches: { start: number; length: number }[];
  try {
    stretches = codeStretches();
  } catch (err) {
    process.emitWarning(`node's code stays on small pages: ${(err as Error).message}`, { code: 'FORKSERVE_LARGE_PAGES' });
    return 0;
  }
  let moved = 0;
  for (const { start, length } of stretches) {
    try {
      remapHuge(start, length, PROT_READ | PROT_EXEC);
      moved += length;
    } catch (err) {
      if (!(err instanceof PosixError)) throw err;
      process.emitWarning(`node's code stays on small pages: ${err.message}`, { code: 'FORKSERVE_LARGE_PAGES' });
      break;
    }
  }
  return moved;
}
