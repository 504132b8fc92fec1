// Looking at a server from outside, for the lessons: its children with their state (R/S/Z) and age,
// and its open descriptor count. /proc on Linux; ps (and lsof for descriptors) elsewhere.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

export interface ChildInfo {
  pid: number;
  state: string;
  ageSeconds: number;
  command: string;
}

const CLK_TCK = 100; // USER_HZ: the unit of /proc/<pid>/stat start times on every Linux ABI

function procChildren(ppid: number): ChildInfo[] {
  const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const out: ChildInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ..." - comm may hold spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) !== ppid) continue;
    let command = '';
    try {
      command = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      /* gone */
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    out.push({
      pid: Number(entry),
      state: fields[0],
      ageSeconds: Math.max(0, Math.round(uptime - Number(fields[19]) / CLK_TCK)),
      command: command || `[${comm}] <defunct>`,
    });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

function parseEtime(etime: string): number {
  // [[dd-]hh:]mm:ss
  const [days, rest] = etime.includes('-') ? etime.split('-') : ['0', etime];
  const parts = rest.split(':').map(Number).reverse();
  return Number(days) * 86400 + (parts[0] ?? 0) + (parts[1] ?? 0) * 60 + (parts[2] ?? 0) * 3600;
}

function psChildren(ppid: number): ChildInfo[] {
  const text = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,stat=,etime=,command='], { encoding: 'utf8' });
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4 && Number(f[1]) === ppid)
    .map((f) => ({ pid: Number(f[0]), state: f[2], ageSeconds: parseEtime(f[3]), command: f.slice(4).join(' ') }));
}

export function listChildren(ppid: number): ChildInfo[] {
  return fs.existsSync('/proc/self/stat') ? procChildren(ppid) : psChildren(ppid);
}

/** Open descriptors of pid, or null when they cannot be counted (no /proc and no lsof). */
export function openFdCount(pid: number): number | null {
  if (fs.existsSync(`/proc/${pid}/fd`)) return fs.readdirSync(`/proc/${pid}/fd`).length;
  try {
    const out = execFileSync('lsof', ['-p', String(pid)], { encoding: 'utf8' });
    return out.split('\n').filter((l) => /^\S+\s+\d+\s+\S+\s+\d+[rwu]/.test(l)).length;
  } catch {
    return null;
  }
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
