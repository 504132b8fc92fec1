// Finding the app: `path/to/app.js:export` (the tutorial's `module:callable`), loaded with
// import() so CommonJS and ES modules both work, then classified by interface. The order, first
// match wins (`--interface node|fetch` skips the guessing):
//
//   1. an http.Server instance          -> node: emits 'request' on it (and 'checkContinue')
//   2. a Koa app (callback + use + context) -> node: app.callback()
//   3. a Fastify instance (routing + ready) -> node: await app.ready(), then app.routing
//   4. a function taking 2+ parameters   -> node: Express, Connect, any (req, res) listener
//   5. an object with a fetch() method   -> fetch: Hono, `export default { fetch }`
//   6. a function taking 0 or 1 parameter -> fetch: (request) => Response
//
// A module that exports a Promise (an app built asynchronously) is awaited first.

import * as fs from 'node:fs';
import { Server } from 'node:http';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FetchHandler } from './fetch-gateway';
import type { NodeListener, UpgradeListener } from './node-gateway';

export type Interface = 'node' | 'fetch';

export type LoadedApp =
  | {
      interface: 'node';
      listener: NodeListener;
      kind: string;
      name: string;
      handlesContinue?: () => boolean;
      /** The app's 'upgrade' or 'connect' listener, if it has one now (an http.Server's, Fastify's server's). */
      upgrades?: (event: 'upgrade' | 'connect') => UpgradeListener | undefined;
    }
  | { interface: 'fetch'; fetch: FetchHandler; kind: string; name: string };

export class AppLoadError extends Error {
  readonly code = 'ERR_FORKSERVE_APP';
  override name = 'AppLoadError';
}

export interface AppSpec {
  module: string;
  /** null: `app`, then the default export. */
  exportName: string | null;
}

/** Splits `module:export` (export optional). */
export function parseAppSpec(text: string): AppSpec {
  const colon = text.lastIndexOf(':');
  // "C:\..." is a path, not an export; so is a trailing colon with nothing after it
  if (colon <= 1 || colon === text.length - 1) return { module: colon === text.length - 1 ? text.slice(0, -1) : text, exportName: null };
  return { module: text.slice(0, colon), exportName: text.slice(colon + 1) };
}

const EXTENSIONS = ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts', '/index.js', '/index.mjs', '/index.ts'];

/** The file a module spec names, and whether it was found as a package in node_modules. */
export interface ResolvedModule {
  file: string;
  fromPackage: boolean;
}

/**
 * The file a module spec names: a path relative to cwd (with the usual extensions), a folder (its
 * package.json `main`, else its index file, as require() finds them), or a package.
 */
export function resolveModule(spec: string, cwd = process.cwd()): ResolvedModule {
  const tried: string[] = [];
  for (const ext of EXTENSIONS) {
    const file = path.resolve(cwd, spec + ext);
    tried.push(file);
    if (fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return { file, fromPackage: false };
  }
  const dir = path.resolve(cwd, spec);
  if (fs.existsSync(path.join(dir, 'package.json'))) {
    try {
      return { file: require.resolve(dir), fromPackage: false };
    } catch {
      tried.push(`the main of ${path.join(dir, 'package.json')}`);
    }
  }
  if (!spec.startsWith('.') && !path.isAbsolute(spec)) {
    try {
      return { file: require.resolve(spec, { paths: [cwd] }), fromPackage: true };
    } catch {
      tried.push(`package '${spec}' from ${cwd}`);
    }
  }
  throw new AppLoadError(`cannot find module '${spec}' (tried ${tried.join(', ')})`);
}

export interface LoadOptions {
  cwd?: string;
  interface?: Interface;
}

/** Loads, picks the export, awaits it if it is a Promise, classifies it. */
export async function loadApp(spec: AppSpec, options: LoadOptions = {}): Promise<LoadedApp> {
  const { file, fromPackage } = resolveModule(spec.module, options.cwd);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { code?: string };
    const where = e.stack?.split('\n').find((l) => l.includes(file)) ?? '';
    throw new AppLoadError(`cannot load ${file}: ${e.message.split('\n')[0]}${where ? ` (${where.trim()})` : ''}${typeScriptHint(file, e)}`);
  }
  const { value, name } = pickExport(namespace, spec, file, fromPackage);
  let app = value;
  if (isPromise(value)) {
    try {
      app = await value;
    } catch (err) {
      throw new AppLoadError(`export '${name}' of ${file} is a Promise that rejected: ${(err as Error)?.message ?? String(err)}`);
    }
  }
  return classify(app, name, options.interface);
}

/** Node runs .ts files itself from 22.18 (type stripping); an older Node fails with an unknown extension. */
function typeScriptHint(file: string, err: Error & { code?: string }): string {
  if (!/\.[cm]?ts$/.test(file) || err.code !== 'ERR_UNKNOWN_FILE_EXTENSION') return '';
  return ` (Node ${process.versions.node} does not run TypeScript; Node >= 22.18 strips types by itself)`;
}

function pickExport(namespace: Record<string, unknown>, spec: AppSpec, file: string, fromPackage: boolean): { value: unknown; name: string } {
  const cjs = namespace['module.exports'] ?? namespace.default;
  // A bare package name (`express`) is more often a slip than an app: its default export is the
  // library itself (express() would answer every request with 500). Such a spec must name its export.
  const candidates = spec.exportName !== null ? [spec.exportName] : fromPackage ? ['app'] : ['app', 'default'];
  for (const name of candidates) {
    if (namespace[name] !== undefined) return { value: namespace[name], name };
    // CommonJS whose exports the ESM loader could not see statically (module.exports = { app })
    const fromCjs = cjs && typeof cjs === 'object' ? (cjs as Record<string, unknown>)[name] : undefined;
    if (name !== 'default' && fromCjs !== undefined) return { value: fromCjs, name };
  }
  const available = Object.keys(namespace).filter((k) => k !== 'module.exports');
  const hint = fromPackage && spec.exportName === null ? `; '${spec.module}' is a package: name your app's file, or the export as ${spec.module}:<export>` : '';
  throw new AppLoadError(
    `${file} has no export ${candidates.map((c) => `'${c}'`).join(' or ')} (it exports: ${available.length ? available.join(', ') : 'nothing'})${hint}`,
  );
}

/** Hands Upgrade and CONNECT requests to `server`'s listeners for them, as node:http does, when it has some. */
function serverUpgrades(server: Server): (event: 'upgrade' | 'connect') => UpgradeListener | undefined {
  return (event) => (server.listenerCount(event) > 0 ? (req, socket, head) => server.emit(event, req, socket, head) : undefined);
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as Promise<unknown>)?.then === 'function' && typeof v !== 'function';
}

type AnyRecord = Record<string, unknown>;

/** Classifies an app object (see the order at the top of this file). */
export async function classify(app: unknown, name: string, forced?: Interface): Promise<LoadedApp> {
  const o = app as AnyRecord;
  const isFn = typeof app === 'function';
  const isObj = app !== null && typeof app === 'object';
  if (!isFn && !isObj) throw new AppLoadError(`export '${name}' is ${app === null ? 'null' : typeof app}, not an app (expected a (req, res) listener, an object with fetch(), or a (request) => Response function)`);

  if (forced !== 'fetch') {
    if (app instanceof Server) {
      const server = app;
      return {
        interface: 'node',
        kind: 'http.Server',
        name,
        handlesContinue: () => server.listenerCount('checkContinue') > 0,
        upgrades: serverUpgrades(server),
        listener: (req, res) => {
          if (req.headers.expect && server.listenerCount('checkContinue') > 0) server.emit('checkContinue', req, res);
          else server.emit('request', req, res);
        },
      };
    }
    if (typeof o.callback === 'function' && typeof o.use === 'function' && o.context && Array.isArray(o.middleware)) {
      return { interface: 'node', kind: 'Koa', name, listener: (o.callback as () => NodeListener).call(app) };
    }
    if (typeof o.routing === 'function' && typeof o.ready === 'function') {
      await (o.ready as () => Promise<unknown>).call(app);
      const upgrades = o.server instanceof Server ? serverUpgrades(o.server) : undefined; // @fastify/websocket listens there
      return { interface: 'node', kind: 'Fastify', name, listener: (o.routing as NodeListener).bind(app), upgrades };
    }
    if (isFn && (forced === 'node' || (app as (...a: unknown[]) => unknown).length >= 2)) {
      const kind = typeof o.handle === 'function' && typeof o.use === 'function' ? (o.set ? 'Express' : 'Connect') : 'node listener';
      return { interface: 'node', kind, name, listener: app as NodeListener };
    }
    if (forced === 'node') throw new AppLoadError(`export '${name}' is not a (req, res) listener, an http.Server, a Koa or a Fastify app`);
  }
  if (isObj && typeof o.fetch === 'function') {
    const kind = typeof o.route === 'function' && typeof o.get === 'function' ? 'Hono' : 'fetch object';
    return { interface: 'fetch', kind, name, fetch: (request) => (o.fetch as FetchHandler).call(app, request) };
  }
  if (isFn) return { interface: 'fetch', kind: 'fetch function', name, fetch: app as FetchHandler };
  throw new AppLoadError(
    `export '${name}' is not an app: an object without fetch() (expected a (req, res) listener, an http.Server, a Koa or Fastify app, or a fetch handler)`,
  );
}
