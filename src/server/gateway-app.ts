// Hosting an app (webserver2 and the final server): load it once in the server process, before
// any fork, so every child inherits it ready (gunicorn's preload_app), and report what its
// handlers throw.

import { loadApp, parseAppSpec, type Interface, type LoadedApp } from '../gateway';
import { warn } from './log';

export const INTERFACES: readonly Interface[] = ['node', 'fetch'];

/** Loads `module:export`; AppLoadError (one line, code ERR_FORKSERVE_APP) when it cannot. */
export function loadAppSpec(spec: string, forced?: Interface): Promise<LoadedApp> {
  return loadApp(parseAppSpec(spec), { interface: forced });
}

/** What the gateway calls with an error the app threw or rejected with (after answering 500). */
export function reportAppError(err: unknown): void {
  warn(`app error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
}

export function describeApp(app: LoadedApp, spec: string): string {
  return `${spec} (${app.kind}, ${app.interface} interface)`;
}
