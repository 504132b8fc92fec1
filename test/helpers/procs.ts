// Spawning throw-away processes for tests: servers (port read from their first stdout line),
// scripts with a bounded run time, and ps/proc inspection. Everything spawned is killed by PID.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const DIST = path.join(ROOT, 'dist');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

/** Runs the rest of the command line as nobody (setpriv execs it: the pid is the command's). */
export const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];

/**
 * A copy of the built server (dist, the addon, package.json) and of `files` (placed at the top) in a
 * new directory any user can read, for a test that runs the server as nobody: RLIMIT_NPROC does
 * not bind root. The caller removes it.
 */
export function copyForNobody(files: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-nobody-'));
  fs.cpSync(DIST, path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'build', 'Release', 'forkserve.node'), path.join(dir, 'build', 'Release', 'forkserve.node'));
  for (const f of files) fs.copyFileSync(f, path.join(dir, path.basename(f)));
  fs.chmodSync(dir, 0o755);
  return dir;
}

const spawned = new Set<ChildProcess>();
/** Process groups started by startServer({ group: true }): what is left of them is killed too. */
const groups = new Set<number>();

/** Kills every process this test file spawned that is still running (use in afterEach/afterAll). */
export function killAll(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL'); // a master's workers, a new master started by USR2 ...
    } catch {
      /* the group is empty */
    }
  }
  groups.clear();
  for (const p of spawned) {
    if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  spawned.clear();
}

export interface Server {
  proc: ChildProcess;
  pid: number;
  /** 0 when the first listener is a unix socket. */
  port: number;
  /** The unix socket of the serving line ("Serving HTTP on unix:PATH ..."), if that is the first listener. */
  socketPath?: string;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export interface StartOptions {
  timeoutMs?: number;
  /** Start under `ulimit -n N` (through bash, which then execs node: the pid is node's). */
  ulimitNofile?: number;
  /** A command that execs node, such as ['setpriv', '--reuid=65534', '--']: the pid is node's. */
  runAs?: string[];
  /** An executable to run instead of `node dist/<entry>` (an installed package's bin), from `cwd`. */
  executable?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** In a process group of its own (as a shell job is), so a test can signal the group: kill(-pid). */
  group?: boolean;
}

/** Starts `node dist/<entry> ...args` and waits for "Serving HTTP on port N ..." (or "on unix:PATH ..."). */
export function startServer(entry: string, args: string[] = [], { timeoutMs = 10_000, ulimitNofile, runAs, executable, cwd, env, group = false }: StartOptions = {}): Promise<Server> {
  const argv = [path.resolve(DIST, entry), ...args];
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
  const proc =
    executable !== undefined
      ? spawn(executable, args, { stdio, cwd, env, detached: group })
      : ulimitNofile !== undefined
        ? spawn('bash', ['-c', `ulimit -n ${ulimitNofile} && exec "$0" "$@"`, process.execPath, ...argv], { stdio })
        : runAs
          ? spawn(runAs[0], [...runAs.slice(1), process.execPath, ...argv], { stdio })
          : spawn(process.execPath, argv, { stdio, cwd, env, detached: group });
  spawned.add(proc);
  if (group && proc.pid !== undefined) groups.add(proc.pid);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${entry} did not print its serving line in ${timeoutMs} ms; stdout=${out} stderr=${err}`));
    }, timeoutMs);
    const onData = (): void => {
      const m = /^Serving HTTP on (?:port (\d+)|unix:(\S+)) \.\.\.\n/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      resolve({
        proc,
        pid: proc.pid!,
        port: Number(m[1] ?? 0),
        socketPath: m[2],
        stdout: () => out,
        stderr: () => err,
        exited,
        kill: (signal = 'SIGKILL') => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
        },
      });
    };
    proc.stdout!.on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code ?? signal}) before serving; stderr=${err}`));
    });
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion, killing it (and failing) after timeoutMs. */
export function run(cmd: string, args: string[], timeoutMs = 30_000, input?: string, { cwd, env }: RunOptions = {}): Promise<RunResult> {
  // No stdin unless there is input: a command that exits first would make writing to it EPIPE.
  const proc = spawn(cmd, args, { cwd, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  spawned.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (input !== undefined) {
    proc.stdin!.on('error', () => {}); // the command may exit without reading its input
    proc.stdin!.end(input);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, timeoutMs);
  return new Promise((resolve) => {
    // A command that cannot start (not installed: ENOENT) emits 'error' and never 'close'.
    proc.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}${cmd}: ${err.message}\n`, timedOut });
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Runs `node <fixture> ...args` (fixtures are plain CommonJS that require dist/). */
export function runFixture(fixture: string, args: string[] = [], timeoutMs = 30_000, nodeFlags: string[] = []): Promise<RunResult> {
  return run(process.execPath, [...nodeFlags, path.join(FIXTURES, fixture), ...args], timeoutMs);
}

/** The last line of output that parses as JSON. */
export function lastJson<T = Record<string, unknown>>(stdout: string): T {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (line.startsWith('{')) return JSON.parse(line) as T;
  }
  throw new Error(`no JSON line in output:\n${stdout}`);
}

/** Children of pid with their state letters, via ps (works on Linux and macOS). */
export async function childStates(pid: number): Promise<{ pid: number; stat: string }[]> {
  const r = await run('ps', ['-A', '-o', 'pid=,ppid=,stat=']);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === pid)
    .map((f) => ({ pid: Number(f[0]), stat: f[2] }));
}

/** Open descriptors of pid: /proc on Linux. */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat (Linux). */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64 and arm64

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until `check` holds or `timeoutMs` has passed; returns the last value (for the caller's expect). */
export async function eventually<T>(fn: () => Promise<T> | T, check: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!check(v) && Date.now() < end) {
    await sleep(50);
    v = await fn();
  }
  return v;
}

/** eventually(), failing with what it waited for and the last value when `check` never held. */
export async function until<T>(fn: () => Promise<T> | T, check: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const v = await eventually(fn, check, timeoutMs);
  if (!check(v)) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
  return v;
}
