// The master's listening sockets, from wherever they come:
//   -b HOST:PORT, [V6]:PORT, :PORT   TCP, bound here (SO_REUSEADDR)
//   -b unix:PATH                     a unix socket bound here, chmod --socket-mode, removed at exit
//   -b fd://N                        a listening socket this process was started with (never removed)
//   systemd socket activation        LISTEN_FDS for our pid: replaces every -b, as in gunicorn
//   a USR2 upgrade                   the old master's sockets, passed to the new one (upgrade.ts)
// A unix path that a live server still answers on is refused (EADDRINUSE); a stale socket file
// left by a crash is replaced.

import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  AF_UNIX, PosixError, SOCK_STREAM, SOL_SOCKET, SO_ACCEPTCONN, SO_TYPE, bind, close, connect, getsockname, getsockopt, isErrno, listen,
  setCloseOnExec, setNonBlocking, socket,
} from '../posix';
import { createListener } from '../server/listener';

export type BindSpec =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'fd'; fd: number };

/** A descriptor given to this process that cannot serve: one line, exit 1 (ERR_FORKSERVE_LISTENER). */
export class ListenerError extends Error {
  readonly code = 'ERR_FORKSERVE_LISTENER';
}

export interface PreforkListener {
  fd: number;
  /** 'unix' for a unix socket (address is its path), else TCP. */
  kind: 'tcp' | 'unix';
  address: string;
  port: number;
  /** Remove the socket file when this server stops (a unix socket it bound itself). */
  removeAtExit: boolean;
}

export interface OpenOptions {
  backlog: number;
  socketMode: number;
}

/** Binds and listens on each spec, in order; on a failure the ones opened so far are closed. */
export function openListeners(specs: BindSpec[], options: OpenOptions): PreforkListener[] {
  const opened: PreforkListener[] = [];
  try {
    for (const spec of specs) opened.push(open(spec, options));
    return opened;
  } catch (err) {
    closeListeners(opened);
    throw err;
  }
}

/** The mode of the unix sockets -b binds unless --socket-mode says otherwise: the owner and its group. */
export const DEFAULT_SOCKET_MODE = 0o660;

/**
 * What a unix listener lets other local users do, if that is more than its owner and group: its peers
 * are trusted as the proxy (X-Forwarded-For/-Proto), so whoever can connect can claim any client
 * address. Undefined for the default's safe modes and for other listeners.
 */
export function unixExposure(spec: BindSpec, mode: number): string | undefined {
  if (spec.kind !== 'unix') return undefined;
  const trusted = 'and is trusted as the proxy: its X-Forwarded-For/-Proto are believed';
  if (spec.path[0] === '@') return `unix:${spec.path} is an abstract socket, which has no permissions: any local user can connect ${trusted}`;
  if ((mode & 0o002) === 0) return undefined;
  return `unix:${spec.path} has mode 0${mode.toString(8)} (--socket-mode): any local user can connect ${trusted}; 0660 with the proxy in the socket's group keeps them out`;
}

function open(spec: BindSpec, { backlog, socketMode }: OpenOptions): PreforkListener {
  switch (spec.kind) {
    case 'tcp': {
      const l = createListener({ host: spec.host, port: spec.port, backlog });
      return { ...l, kind: 'tcp', removeAtExit: false };
    }
    case 'unix':
      return bindUnix(spec.path, backlog, socketMode);
    case 'fd':
      return adopt(spec.fd, `--bind fd://${spec.fd}`, false);
  }
}

function bindUnix(path: string, backlog: number, mode: number): PreforkListener {
  removeStaleSocket(path);
  const fd = socket(AF_UNIX, SOCK_STREAM, 0);
  try {
    setCloseOnExec(fd, true);
    bind(fd, path);
    // Before listen(): nobody can connect while the mode is still the umask's.
    if (path[0] !== '@') fs.chmodSync(path, mode);
    listen(fd, backlog);
  } catch (err) {
    close(fd);
    throw err;
  }
  return { fd, kind: 'unix', address: path, port: 0, removeAtExit: path[0] !== '@' };
}

/**
 * A socket file at `path` that no server answers on (left by a crash or kill -9) is removed; one a
 * live server answers on is EADDRINUSE; anything else at the path is left for bind() to refuse.
 */
function removeStaleSocket(path: string): void {
  if (path[0] === '@') return;
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) return;
  const live = unixSocketLive(path);
  if (live === false) fs.rmSync(path, { force: true });
  if (live) throw new PosixError(os.constants.errno.EADDRINUSE, 'bind', 'a server is listening on it').withAddress(path);
}

/**
 * Whether a server answers on the unix socket at `path`: true when a connect() succeeds (or finds
 * its backlog full), false when none listens (ECONNREFUSED), undefined when it cannot be told
 * (EACCES ...: bind() will say).
 */
export function unixSocketLive(path: string): boolean | undefined {
  const probe = socket(AF_UNIX, SOCK_STREAM, 0);
  try {
    setNonBlocking(probe, true); // a live server with a full backlog says EAGAIN instead of blocking us
    connect(probe, path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ECONNREFUSED')) return false;
    return isErrno(err, 'EAGAIN') ? true : undefined;
  } finally {
    close(probe);
  }
}

/**
 * A listening socket this process was given (fd://N, systemd, an upgrade): checked to be one, marked
 * close-on-exec. `removeAtExit` for a unix socket whose file this server owns.
 */
export function adopt(fd: number, what: string, removeAtExit: boolean): PreforkListener {
  let accepting: number;
  let type: number;
  try {
    accepting = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN);
    type = getsockopt(fd, SOL_SOCKET, SO_TYPE);
  } catch (err) {
    throw new ListenerError(`${what}: descriptor ${fd} is not a socket (${(err as Error).message})`);
  }
  if (type !== SOCK_STREAM || accepting === 0) throw new ListenerError(`${what}: descriptor ${fd} is not a listening stream socket`);
  setCloseOnExec(fd, true);
  const name = getsockname(fd);
  const unix = name.family === 'Unix';
  return { fd, kind: unix ? 'unix' : 'tcp', address: name.address, port: name.port, removeAtExit: unix && removeAtExit };
}

/** "http://127.0.0.1:8000", "http://[::1]:8000", "unix:/run/app.sock". */
export function describeListener(l: PreforkListener): string {
  if (l.kind === 'unix') return `unix:${l.address}`;
  return `http://${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`;
}

/** Closes the descriptors; with `removeFiles`, removes the socket files this server owns. */
export function closeListeners(listeners: PreforkListener[], removeFiles = true): void {
  for (const l of listeners) {
    try {
      close(l.fd);
    } catch {
      /* closed already */
    }
    if (removeFiles && l.removeAtExit) fs.rmSync(l.address, { force: true });
  }
}
