// What every command needs before anything else can load: its name as the user typed it, and a
// start that turns an error raised while loading (the native addon built for another Node, or not
// built at all) into one line and exit 1 instead of a stack trace. Imports nothing of forkserve's,
// so it works when the addon does not.

import * as path from 'node:path';

/** `node dist/webserver1.js` when run as a script, `forkserve-webserver1` when run through a package bin. */
export function programName(): string {
  const script = process.argv[1] ?? 'forkserve';
  if (!script.endsWith('.js')) return path.basename(script);
  return `node ${path.relative(process.cwd(), script) || script}`;
}

/** An error forkserve raised on purpose, with a message meant for the user (code ERR_FORKSERVE_*). */
export function isForkserveError(err: unknown): boolean {
  return String((err as NodeJS.ErrnoException)?.code).startsWith('ERR_FORKSERVE');
}

/** Runs `load` (the entry module's require); a forkserve error while loading prints one line, exit 1. */
export function startEntry(load: () => unknown): void {
  try {
    load();
  } catch (err) {
    if (!isForkserveError(err)) throw err;
    process.stderr.write(`${programName()}: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
