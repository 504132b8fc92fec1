// The client side of --status-socket (`forkserve status PATH`): connect, read the master's JSON
// snapshot until the master closes the connection, and print it as a table for people. The status
// page (status-page-html.ts) shows the same columns in the same formats.

import * as net from 'node:net';
import { plural } from '../server/log';
import type { StatusSnapshot, WorkerStatus } from './status-snapshot';

/** How long `forkserve status` waits for the master's answer. */
export const STATUS_TIMEOUT_MS = 5000;
/** Longer requests are cut in the table (the JSON has them whole). */
const REQUEST_COLUMN_CHARS = 48;

/** The answer is not a forkserve status snapshot (another program's socket): one line, exit 1. */
export class StatusAnswerError extends Error {
  readonly code = 'ERR_FORKSERVE_STATUS';
}

/** A failed connect or read as Node words it ("connect ENOENT /run/app.status"), with its code and syscall. */
function socketError(syscall: string, code: string, socketPath: string, more = ''): Error {
  return Object.assign(new Error(`${syscall} ${code} ${socketPath}${more}`), { code, syscall, address: socketPath });
}

/** Asks the master listening on `socketPath` for its snapshot. */
export function readStatus(socketPath: string, timeoutMs = STATUS_TIMEOUT_MS): Promise<StatusSnapshot> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = net.connect(socketPath);
    const timer = setTimeout(() => {
      conn.destroy();
      reject(socketError('read', 'ETIMEDOUT', socketPath, ` (no answer in ${timeoutMs / 1000} s)`));
    }, timeoutMs);
    conn.on('data', (d: Buffer) => chunks.push(d));
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(socketError(err.syscall ?? 'connect', err.code ?? 'EIO', socketPath));
    });
    conn.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      let snapshot: StatusSnapshot;
      try {
        snapshot = JSON.parse(text) as StatusSnapshot;
      } catch {
        reject(new StatusAnswerError(`${socketPath}: the answer is not a forkserve status (${JSON.stringify(text.slice(0, 40))})`));
        return;
      }
      if (typeof snapshot?.master?.pid !== 'number' || !Array.isArray(snapshot.workers)) {
        reject(new StatusAnswerError(`${socketPath}: the answer is not a forkserve status`));
        return;
      }
      resolve(snapshot);
    });
  });
}

// --- formats (the same in the status page's script) --------------------------------------------

const two = (n: number): string => String(n).padStart(2, '0');

/** 4.2 s, 3m 05s, 2h 07m, 3d 04h; '-' for null. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.floor(ms / 1000);
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d ${two(Math.floor(s / 3600) % 24)}h`;
}

/** kB as MB with one decimal; '-' for null (unknown on this system). */
export function formatMegabytes(kb: number | null): string {
  return kb === null ? '-' : `${(kb / 1024).toFixed(1)} MB`;
}

/** A request as the table shows it: control characters replaced (they would drive the terminal), long ones cut. */
function printableRequest(w: WorkerStatus): string {
  if (w.request === null) return '-';
  const text = w.request.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  const cut = text.length > REQUEST_COLUMN_CHARS ? `${text.slice(0, REQUEST_COLUMN_CHARS - 1)}…` : text;
  return w.inFlight > 1 ? `${cut} (+${w.inFlight - 1})` : cut;
}

const COLUMNS: { title: string; right: boolean; value: (w: WorkerStatus) => string }[] = [
  { title: 'PID', right: true, value: (w) => String(w.pid) },
  { title: 'STATE', right: false, value: (w) => (w.stopping ? `${w.state} (${w.stopping})` : w.state) },
  { title: 'REQUEST', right: false, value: printableRequest },
  { title: 'FOR', right: true, value: (w) => formatDuration(w.requestMs) },
  { title: 'CONNS', right: true, value: (w) => String(w.connections) },
  { title: 'SERVED', right: true, value: (w) => String(w.requests) },
  { title: 'RSS', right: true, value: (w) => formatMegabytes(w.rssKb) },
  { title: 'PSS', right: true, value: (w) => formatMegabytes(w.pssKb) },
  { title: 'AGE', right: true, value: (w) => formatDuration(w.ageMs) },
];

/** The snapshot as text: a line about the master, a table of workers, a line about memory. */
export function formatStatus(s: StatusSnapshot): string {
  const m = s.master;
  const lines = [`forkserve master ${m.pid}, ${m.state}, up ${formatDuration(m.uptimeMs)}, ${plural(s.workers.length, 'worker', 'workers')} (target ${m.workersTarget})`, ''];
  const cells = [COLUMNS.map((c) => c.title), ...s.workers.map((w) => COLUMNS.map((c) => c.value(w)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  for (const row of cells) lines.push(row.map((text, i) => (COLUMNS[i].right ? text.padStart(widths[i]) : text.padEnd(widths[i]))).join('  ').trimEnd());
  if (s.workers.length === 0) lines.push('(no workers)');
  const pss = [m.pssKb, ...s.workers.map((w) => w.pssKb)];
  const total = pss.includes(null) ? '' : `; PSS of the master and its workers: ${formatMegabytes(pss.reduce((a, b) => a! + b!, 0))}`;
  lines.push('', `master RSS ${formatMegabytes(m.rssKb)}, PSS ${formatMegabytes(m.pssKb)}${total}`);
  return `${lines.join('\n')}\n`;
}
