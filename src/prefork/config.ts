// --config FILE: a JavaScript module (CommonJS or ESM) exporting settings and hooks, as gunicorn's
// config file does. Settings take the command line's names in camelCase (workers, bind, timeout,
// gracefulTimeout, keepAlive, maxRequests, maxRequestsJitter, backlog, headersTimeout,
// requestTimeout, sendTimeout, workerConnections, maxBody, host, port, warmUp, socketMode, forwardedAllowIps, statusSocket, statusPage, accessLog, accessLogFormat); an option given on the
// command line wins over the file. Hooks:
//   onStarting(server)       in the master, before the first fork
//   preFork(worker)          in the master, before each fork
//   postFork(worker)         in the new worker, before it accepts (reopen connections here); a throw
//                            or rejection ends the worker with code 3, like a failed boot
//   workerExit(worker, exit) in the master, after a worker is reaped
//   onExit(server)           in the master, before it exits

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

/** A mistake in the config file: one line, exit 1 (code ERR_FORKSERVE_CONFIG). */
export class ConfigError extends Error {
  readonly code = 'ERR_FORKSERVE_CONFIG';
}

export interface WorkerInfo {
  pid: number;
  /** Its scoreboard slot: stable across the worker's life, reused after it. */
  slot: number;
}

export interface ServerInfo {
  workers: number;
  addresses: { address: string; port: number }[];
}

export interface WorkerExitInfo {
  exitCode: number | null;
  signal: string | null;
}

export interface Hooks {
  onStarting?(server: ServerInfo): void | Promise<void>;
  preFork?(worker: { slot: number }): void;
  postFork?(worker: WorkerInfo): void | Promise<void>;
  workerExit?(worker: WorkerInfo, exit: WorkerExitInfo): void;
  onExit?(server: ServerInfo): void;
}

export const HOOK_NAMES = ['onStarting', 'preFork', 'postFork', 'workerExit', 'onExit'] as const;

/** Setting names of the file, mapped to the command line's option names. */
export const SETTINGS: Record<string, string> = {
  workers: 'workers',
  bind: 'bind',
  timeout: 'timeout',
  gracefulTimeout: 'graceful-timeout',
  keepAlive: 'keep-alive',
  maxRequests: 'max-requests',
  maxRequestsJitter: 'max-requests-jitter',
  backlog: 'backlog',
  headersTimeout: 'headers-timeout',
  requestTimeout: 'request-timeout',
  sendTimeout: 'send-timeout',
  workerConnections: 'worker-connections',
  maxBody: 'max-body',
  host: 'host',
  port: 'port',
  warmUp: 'warm-up',
  socketMode: 'socket-mode',
  forwardedAllowIps: 'forwarded-allow-ips',
  statusSocket: 'status-socket',
  statusPage: 'status-page',
  accessLog: 'access-log',
  accessLogFormat: 'access-log-format',
};

export interface Config {
  /** Option name -> value as the command line would give it (strings; bind: strings). */
  options: Record<string, string | string[]>;
  hooks: Hooks;
}

/** Loads and checks a config module. */
export async function loadConfig(file: string): Promise<Config> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new ConfigError(`--config ${file}: no such file`);
  let mod: Record<string, unknown>;
  try {
    const imported = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
    // CommonJS: module.exports arrives as the default export.
    mod = (imported.default && typeof imported.default === 'object' ? imported.default : imported) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`--config ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const options: Record<string, string | string[]> = {};
  const hooks: Hooks = {};
  for (const [key, value] of Object.entries(mod)) {
    if (key === 'default' || key === '__esModule') continue;
    if ((HOOK_NAMES as readonly string[]).includes(key)) {
      if (typeof value !== 'function') throw new ConfigError(`--config ${file}: ${key} must be a function`);
      (hooks as Record<string, unknown>)[key] = value;
      continue;
    }
    const option = SETTINGS[key];
    if (!option) throw new ConfigError(`--config ${file}: unknown setting '${key}' (settings: ${Object.keys(SETTINGS).join(', ')}; hooks: ${HOOK_NAMES.join(', ')})`);
    if (key === 'bind') options[option] = (Array.isArray(value) ? value : [value]).map(String);
    else if (key === 'warmUp' && Array.isArray(value)) options[option] = value.map(String).join(',');
    else options[option] = String(value);
  }
  return { options, hooks };
}
