// Servers that print before their serving line (an app that logs while it loads: Next.js's
// "✓ Running next.config.js"), each started in a process group of its own (so a master and its
// workers, a parent and its children, or `next start` and what it starts go together), and killed
// by group: the framework tests' way of starting what startServer() (first line only) cannot.
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT, killAll, sleep } from './procs';

export interface GroupProc {
  pid: number;
  port: number;
  /** When the serving line came (ms since the epoch). */
  readyAt: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** SIGKILL to the whole group, now (and it is no longer stopGroups()'s to kill). */
  killGroup(): void;
}

/** forkserve's and concurrent-final's serving line, on any line of stdout. */
export const SERVING = /^Serving HTTP on port (\d+) \.\.\.$/m;

const groups = new Set<number>();

/** Kills every group started here and still running, and what killAll() knows (use in afterEach/afterAll). */
export function stopGroups(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* the group is empty */
    }
  }
  groups.clear();
  killAll();
}

/** Starts `node args...` in a process group of its own; `handle(port)` describes it once the port is known. */
export function spawnGroup(args: string[], env: NodeJS.ProcessEnv = process.env): { proc: ChildProcess; handle: (port: number) => GroupProc } {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (proc.pid !== undefined) groups.add(proc.pid);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const handle = (port: number): GroupProc => ({
    pid: proc.pid!,
    port,
    readyAt: Date.now(),
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    killGroup: () => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* the group is empty */
      }
      groups.delete(proc.pid!);
    },
  });
  return { proc, handle };
}

/** Starts `node args...` in a group of its own; resolves once a line of stdout matches `ready` (group 1: the port). */
export function startGroup(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<GroupProc> {
  const { proc, handle } = spawnGroup(args, env);
  const p = handle(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.stdout!.off('data', onData);
      reject(new Error(`${args.join(' ')} did not say it serves in ${timeoutMs} ms; stdout=${p.stdout()} stderr=${p.stderr().slice(-3000)}`));
    }, timeoutMs);
    const onData = (): void => {
      const m = ready.exec(p.stdout());
      if (!m) return;
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      resolve(handle(Number(m[1])));
    };
    proc.stdout!.on('data', onData);
    void p.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code ?? signal}) before serving; stdout=${p.stdout()} stderr=${p.stderr().slice(-3000)}`));
    });
  });
}

/** The exit, if it comes within `ms`. */
export async function exitWithin(server: GroupProc, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  return Promise.race([server.exited, sleep(ms).then(() => 'still running' as const)]);
}
