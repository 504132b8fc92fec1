// Code reload without downtime (USR2), as Unicorn and gunicorn do it. The app is preloaded, so new
// code needs a new master: the old one starts its own program again (same node, flags, arguments,
// directory) with its listening sockets as descriptors 3, 4 ... and a pipe after them. The new master
// loads the app, forks its workers and, once every one of them accepts, writes to the pipe; only then
// does the old master stop its workers gracefully and exit. Until then both sets of workers accept
// from the same sockets, so no connection is refused or reset. A new master that fails (the app does
// not load, its workers die at boot) exits; the old one says so and keeps serving.
//
//   FORKSERVE_UPGRADE={"from":<old master pid>,"fds":[{"fd":3,"removeAtExit":true},...],"ready":5}
// is honoured only by a process whose parent is that old master.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { close, getppid, setCloseOnExec, write } from '../posix';
import { LISTEN_FDS_START } from './systemd';
import { adopt, type PreforkListener } from './listeners';

const ENV = 'FORKSERVE_UPGRADE';

interface UpgradeEnv {
  from: number;
  fds: { fd: number; removeAtExit: boolean }[];
  ready: number;
}

/**
 * Where and with what the server was started, taken when this module loads (before the config file
 * and the app run): the new master starts with the same. The directory as the shell named it ($PWD,
 * when it is this directory): a deploy that points a `current` symlink at a new release and sends
 * USR2 must load the new release, not the directory the old symlink resolved to (gunicorn's and
 * Unicorn's START_CTX do the same). The environment as it was, not as the app changed it.
 */
const startCwd = startDirectory();
const startEnv: NodeJS.ProcessEnv = { ...process.env };

function startDirectory(): string {
  const cwd = process.cwd();
  const pwd = process.env.PWD;
  if (!pwd || !path.isAbsolute(pwd)) return cwd;
  try {
    const a = fs.statSync(pwd);
    const b = fs.statSync(cwd);
    return a.dev === b.dev && a.ino === b.ino ? pwd : cwd;
  } catch {
    return cwd;
  }
}

export interface UpgradeEvents {
  /** The new master's workers all accept. */
  ready(pid: number): void;
  /** The new master exited before it was ready. */
  failed(pid: number, why: string): void;
}

/** Starts the new master (in the old one). */
export function startNewMaster(listeners: PreforkListener[], events: UpgradeEvents): ChildProcess {
  const readyFd = LISTEN_FDS_START + listeners.length;
  const env: UpgradeEnv = {
    from: process.pid,
    fds: listeners.map((l, i) => ({ fd: LISTEN_FDS_START + i, removeAtExit: l.removeAtExit })),
    ready: readyFd,
  };
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    cwd: startCwd,
    // (systemd's variables were for this process: the new master gets its sockets from us)
    env: { ...startEnv, LISTEN_PID: undefined, LISTEN_FDS: undefined, LISTEN_FDNAMES: undefined, [ENV]: JSON.stringify(env) },
    // libuv puts each listener at 3, 4 ... in the child (without close-on-exec) and a pipe after them.
    stdio: ['inherit', 'inherit', 'inherit', ...listeners.map((l) => l.fd), 'pipe'],
  });
  let settled = false;
  const pipe = child.stdio[readyFd]!;
  pipe.on('data', () => {
    if (settled) return;
    settled = true;
    events.ready(child.pid!);
  });
  pipe.on('error', () => {});
  child.on('error', (err) => {
    if (settled) return;
    settled = true;
    events.failed(child.pid ?? 0, `could not be started: ${err.message}`);
  });
  child.on('exit', (code, signal) => {
    pipe.destroy();
    if (settled) return;
    settled = true;
    events.failed(child.pid!, signal !== null ? `was killed by ${signal}` : `exited with code ${code}`);
  });
  return child;
}

export interface Inherited {
  listeners: PreforkListener[];
  /** Tell the old master this one is ready (its workers accept); then the old one stops. */
  ready(): void;
  /** In a worker of the new master: its copy of the pipe to the old master is not its own. */
  closeInWorker(): void;
}

/** In a new master started by an upgrade: the old master's listeners, or undefined for a normal start. */
export function takeUpgrade(env: NodeJS.ProcessEnv = process.env): Inherited | undefined {
  const text = env[ENV];
  delete env[ENV];
  if (text === undefined) return undefined;
  let parsed: UpgradeEnv;
  try {
    parsed = JSON.parse(text) as UpgradeEnv;
  } catch {
    return undefined;
  }
  if (parsed.from !== getppid()) return undefined; // leaked into another process's environment
  const listeners = parsed.fds.map((f) => adopt(f.fd, 'upgrade', f.removeAtExit));
  setCloseOnExec(parsed.ready, true); // not for programs the app runs
  let told = false;
  return {
    listeners,
    closeInWorker() {
      if (told) return;
      told = true;
      close(parsed.ready);
    },
    ready() {
      if (told) return;
      told = true;
      try {
        write(parsed.ready, Buffer.from('R'));
      } catch {
        /* the old master is gone */
      }
      close(parsed.ready);
    },
  };
}
