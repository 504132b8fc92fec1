// Signals this process sends itself are not a user's second signal (issue 27). An app's shutdown
// hook that re-raises the signal once it has closed (Apollo Server's stopOnTerminationSignals,
// NestJS's enableShutdownHooks: `process.kill(process.pid, signal)`) made concurrent-final take it
// for a second TERM ("stop now") and SIGKILL its children in the middle of their requests. Such
// signals are counted here as process.kill sends them; the server's handler asks, for each one it
// gets, whether it was one of those.

import * as os from 'node:os';

const sent = new Map<string, number>();
let watching = false;

/** The signal's name as process.kill takes it: 'SIGTERM', 15, or nothing (SIGTERM). */
function signalName(signal: string | number | undefined): string | undefined {
  if (signal === undefined) return 'SIGTERM';
  if (typeof signal === 'string') return signal;
  return Object.entries(os.constants.signals).find(([, n]) => n === signal)?.[0];
}

/** From now on, signals this process sends itself through process.kill are counted. */
export function watchSelfSignals(): void {
  if (watching) return;
  watching = true;
  const kill = process.kill;
  process.kill = function (pid: number, signal?: string | number): true {
    // To itself: its own pid, its process group (0), or the group it leads (-pid).
    if (pid === process.pid || pid === 0 || pid === -process.pid) {
      const name = signalName(signal);
      if (name) sent.set(name, (sent.get(name) ?? 0) + 1);
    }
    return kill.call(process, pid, signal);
  } as typeof process.kill;
}

/** For a `signal` just received: true (and counted off) when this process had sent it to itself. */
export function sentByItself(signal: string): boolean {
  const n = sent.get(signal) ?? 0;
  if (n === 0) return false;
  if (n === 1) sent.delete(signal);
  else sent.set(signal, n - 1);
  return true;
}
