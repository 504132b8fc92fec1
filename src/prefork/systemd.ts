// systemd's two protocols, without libsystemd (as gunicorn's systemd.py does it):
//   socket activation  LISTEN_PID/LISTEN_FDS: the listening sockets come as descriptors 3, 4 ...,
//                      meant for the process whose pid is LISTEN_PID (sd_listen_fds(3))
//   readiness          NOTIFY_SOCKET: datagrams "READY=1", "RELOADING=1", "STOPPING=1", "MAINPID=n"
//                      to a unix socket ('@' = the abstract namespace) (sd_notify(3))
// Both are honoured only when systemd (or a harness doing the same) set them up; otherwise they do
// nothing.

import {
  AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, close, connect, send, socket,
} from '../posix';
import { warn } from '../server/log';

/** SD_LISTEN_FDS_START: the first descriptor systemd passes. */
export const LISTEN_FDS_START = 3;

/**
 * The descriptors systemd passed to this process (none when LISTEN_PID names another process, as
 * when the variables leaked from a parent). The variables are removed, so that no program this one
 * starts takes them for its own (sd_listen_fds with unset_environment).
 */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const pid = env.LISTEN_PID;
  const count = env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid === undefined || count === undefined || Number(pid) !== process.pid) return [];
  const n = Number(count);
  if (!Number.isInteger(n) || n < 0) return [];
  return Array.from({ length: n }, (_, i) => LISTEN_FDS_START + i);
}

/** The clock systemd wants with RELOADING=1 (CLOCK_MONOTONIC, µs; libuv's hrtime is that clock). */
function monotonicMicros(): string {
  return String(process.hrtime.bigint() / 1000n);
}

/**
 * sd_notify(): sends `state` lines ("READY=1", "STATUS=...") to $NOTIFY_SOCKET. Returns false when
 * there is no socket to tell. A failure to send is said once on stderr and is not fatal.
 */
export function notify(...state: string[]): boolean {
  const path = process.env.NOTIFY_SOCKET;
  if (!path || (path[0] !== '/' && path[0] !== '@')) return false;
  const lines = state.map((s) => (s === 'RELOADING=1' ? `RELOADING=1\nMONOTONIC_USEC=${monotonicMicros()}` : s));
  let fd = -1;
  try {
    fd = socket(AF_UNIX, SOCK_DGRAM | (process.platform === 'linux' ? SOCK_CLOEXEC : 0), 0);
    connect(fd, path);
    send(fd, Buffer.from(`${lines.join('\n')}\n`));
    return true;
  } catch (err) {
    if (!warned) warn(`sd_notify to ${path} failed: ${(err as Error).message}`);
    warned = true;
    return false;
  } finally {
    if (fd >= 0) close(fd);
  }
}
let warned = false;
