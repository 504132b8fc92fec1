// forkserve, the pre-fork server: a master loads the app once and forks workers that share its
// memory copy-on-write; each worker serves many connections at once through the gateway. What
// gunicorn, Unicorn and Pitchfork are to Python and Ruby. See src/prefork/.

import * as os from 'node:os';
import {
  SERVER_HELP, SERVER_OPTIONS, UsageError, appArgument, appHelp, appOptions, parseCommand, parseHost, parseNumber, parsePort, runMain,
  serverAddress, warmUpPaths,
} from '../cli';
import { gatewayHandler } from '../gateway';
import { Master } from '../prefork/master';
import { describeApp, loadAppSpec, reportAppError, warmUpGateway } from '../server/gateway-app';
import { serverHeader } from '../server/hello-app';
import { HEADERS_TIMEOUT_MS } from '../server/http-connection';
import { createListener, servingLine } from '../server/listener';
import { loadConfig } from '../prefork/config';
import { say } from '../server/log';
import { setNonBlocking } from '../posix';


/** -b HOST:PORT, [V6]:PORT or :PORT (all IPv4 interfaces). */
function parseBind(text: string): { host: string; port: number } {
  if (text.startsWith('unix:') || text.startsWith('fd://')) throw new UsageError(`--bind ${text}: unix sockets and inherited descriptors are not supported yet`);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`invalid --bind '${text}' (expected HOST:PORT, [V6]:PORT or :PORT)`);
  return { host: parseHost(m[1] ?? m[2]), port: parsePort(m[3]) };
}

function defaultWorkers(): string {
  return process.env.WEB_CONCURRENCY || String(os.availableParallelism?.() ?? os.cpus().length);
}

runMain(async () => {
  const parsed = parseCommand({
    summary: 'The pre-fork server: the app is loaded once, workers are forked from it (copy-on-write) and each\nserves many connections at once. Express, Koa, Fastify, Hono and fetch handlers run unmodified.',
    positionals: 'module:export',
    details: [
      'Signals to the master: TERM graceful stop (in-flight requests finish, up to --graceful-timeout), INT/QUIT',
      'quick stop (twice: at once), HUP replace every worker, TTIN/TTOU one worker more/fewer.',
      'Example: node dist/forkserve.js -w 4 --port 8000 examples/express/app.js:app',
    ].join('\n'),
    options: {
      ...SERVER_OPTIONS,
      workers: { type: 'string', short: 'w', default: defaultWorkers() },
      bind: { type: 'string', short: 'b', multiple: true },
      config: { type: 'string', short: 'c' },
      'graceful-timeout': { type: 'string', default: '30' },
      timeout: { type: 'string', short: 't', default: '30' },
      'max-requests': { type: 'string', default: '0' },
      'max-requests-jitter': { type: 'string', default: '0' },
      'keep-alive': { type: 'string', default: '5' },
      backlog: { type: 'string', default: '2048' },
      ...appOptions(HEADERS_TIMEOUT_MS / 1000),
    },
    help: {
      ...SERVER_HELP,
      workers: 'worker processes (default: $WEB_CONCURRENCY, else the number of CPUs)',
      bind: 'HOST:PORT ([V6]:PORT, :PORT for all interfaces) to listen on; repeatable; replaces --host/--port',
      config: 'a JS module exporting settings (workers, bind, timeout ...) and hooks (onStarting, preFork,\npostFork, workerExit, onExit); the command line wins over it',
      'graceful-timeout': 'seconds workers get to finish in-flight requests on TERM (default: 30)',
      timeout: "seconds a worker's event loop may stay blocked before it is killed and replaced; 0: never (default: 30)",
      'max-requests': 'requests after which a worker is restarted gracefully; 0: never (default: 0)',
      'max-requests-jitter': 'up to this many more requests, drawn per worker, so workers do not restart together (default: 0)',
      'keep-alive': 'seconds an idle keep-alive connection stays open (default: 5)',
      backlog: 'listen backlog (default: 2048)',
      ...appHelp(HEADERS_TIMEOUT_MS / 1000),
    },
  });
  const config = parsed.values.config ? await loadConfig(parsed.values.config as string) : undefined;
  // The command line wins over the config file, which wins over the defaults.
  const values = { ...parsed.values };
  for (const [name, value] of Object.entries(config?.options ?? {})) if (!parsed.given.has(name)) values[name] = value;
  const { spec, forced } = appArgument(parsed);
  if (spec === undefined) throw new UsageError('an app is required (module:export); see --help');
  const workers = parseNumber('workers', values.workers as string, { integer: true, min: 1 });
  const gracefulTimeoutMs = parseNumber('graceful-timeout', values['graceful-timeout'] as string) * 1000;
  const timeoutMs = parseNumber('timeout', values.timeout as string) * 1000;
  const maxRequests = parseNumber('max-requests', values['max-requests'] as string, { integer: true });
  const maxRequestsJitter = parseNumber('max-requests-jitter', values['max-requests-jitter'] as string, { integer: true });
  const backlog = parseNumber('backlog', values.backlog as string, { integer: true, min: 1 });
  const http = {
    server: serverHeader(),
    keepAliveTimeoutMs: parseNumber('keep-alive', values['keep-alive'] as string) * 1000,
    headersTimeoutMs: parseNumber('headers-timeout', values['headers-timeout'] as string) * 1000,
    maxBodyBytes: parseNumber('max-body', values['max-body'] as string, { integer: true }),
  };
  const paths = warmUpPaths(values);
  const binds = ((values.bind as string[] | undefined) ?? []).map(parseBind);
  const addresses = binds.length > 0 ? binds : [serverAddress(values)];
  const app = await loadAppSpec(spec, forced);
  await warmUpGateway(app, http, paths);
  const listeners = addresses.map((a) => createListener({ ...a, backlog }));
  say(servingLine(listeners[0].port));
  for (const l of listeners) {
    if (listeners.length > 1) say(`Listening at: http://${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`);
    // Every worker watches it; the one whose accept() wins takes the connection, the others get EAGAIN.
    setNonBlocking(l.fd, true);
  }
  say(`Serving ${describeApp(app, spec)} with ${workers} ${workers === 1 ? 'worker' : 'workers'}`);
  const server = { workers, addresses: listeners.map((l) => ({ address: l.address, port: l.port })) };
  await config?.hooks.onStarting?.(server);
  new Master({
    hooks: config?.hooks,
    addresses: server.addresses,
    listenFds: listeners.map((l) => l.fd),
    workers,
    gracefulTimeoutMs,
    timeoutMs,
    maxRequests,
    maxRequestsJitter,
    makeServe: (observer) => gatewayHandler(app, { ...http, observer }, reportAppError),
  }).start();
});
