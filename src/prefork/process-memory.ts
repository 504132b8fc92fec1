// A process's memory as the status view shows it: RSS (resident pages, shared ones counted in full)
// and PSS (each shared page divided among the processes that map it: the sum over the master and
// its workers is what the server really costs). Linux reports both in /proc/<pid>/smaps_rollup
// (4.14 and later), only RSS in /proc/<pid>/status before that; elsewhere (macOS) there is no /proc,
// and only this process's own RSS is known. Unknown is null, never 0.
//
// See: man 5 proc (/proc/pid/smaps_rollup, /proc/pid/status)

import * as fs from 'node:fs';

export interface ProcessMemory {
  rssKb: number | null;
  pssKb: number | null;
}

/** A "Name:   123 kB" line of a /proc file, in kB, or null. */
function field(text: string, name: string): number | null {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

function readProc(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null; // gone (a worker that just exited), or no such file on this kernel
  }
}

/** RSS and PSS of `pid` in kB (null where this system does not tell). */
export function readProcessMemory(pid: number): ProcessMemory {
  if (process.platform !== 'linux') {
    return { rssKb: pid === process.pid ? Math.round(process.memoryUsage.rss() / 1024) : null, pssKb: null };
  }
  const rollup = readProc(`/proc/${pid}/smaps_rollup`);
  if (rollup !== null) return { rssKb: field(rollup, 'Rss'), pssKb: field(rollup, 'Pss') };
  const status = readProc(`/proc/${pid}/status`);
  return { rssKb: status === null ? null : field(status, 'VmRSS'), pssKb: null };
}
