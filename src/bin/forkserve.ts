// forkserve, the pre-fork server: a master loads the app once and forks workers that share its
// memory copy-on-write; each worker serves many connections at once through the gateway. What
// gunicorn, Unicorn and Pitchfork are to Python and Ruby. See src/prefork/.

import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SERVER_HELP, SERVER_OPTIONS, UsageError, appArgument, appHelp, appOptions, parseCommand, parseHost, parseNumber, parsePort, runMain,
  serverAddress, warmUpPaths,
} from '../cli';
import { gatewayHandler } from '../gateway';
import { Master } from '../prefork/master';
import { socketIoAdvice } from '../server/framework-advice';
import { describeApp, loadAppSpec, reportAppError, warmUpGateway } from '../server/gateway-app';
import { serverHeader } from '../server/hello-app';
import { HEADERS_TIMEOUT_MS } from '../server/http-connection';
import { servingLine } from '../server/listener';
import { loadConfig } from '../prefork/config';
import { AccessLog, DEFAULT_ACCESS_LOG_FORMAT } from '../prefork/access-log';
import { DEFAULT_SOCKET_MODE, adopt, closeListeners, describeListener, openListeners, unixExposure, type BindSpec, type PreforkListener } from '../prefork/listeners';
import { takeListenFds } from '../prefork/systemd';
import { takeUpgrade } from '../prefork/upgrade';
import { DEFAULT_FORWARDED_ALLOW_IPS, parseForwardedAllowIps } from '../gateway/forwarded';
import { dropOutputWhenStalled, say, warn } from '../server/log';
import { prepareFork, setForkPolicy, setNonBlocking } from '../posix';
import { STATUS_TIMEOUT_MS, formatStatus, readStatus } from '../prefork/status-client';


/** -b HOST:PORT, [V6]:PORT, :PORT (all IPv4 interfaces), unix:PATH or fd://N; `tcpOnly` for --status-page. */
function parseBind(text: string, option = '--bind', tcpOnly = false): BindSpec {
  if (!tcpOnly && text.startsWith('unix:')) {
    const file = text.slice(5);
    if (file === '') throw new UsageError(`invalid --bind '${text}' (expected unix:PATH)`);
    // Absolute now: the file is removed at exit, when the app may have changed directory.
    return { kind: 'unix', path: file.startsWith('@') ? file : path.resolve(file) };
  }
  if (!tcpOnly && text.startsWith('fd://')) {
    const fd = Number(text.slice(5));
    if (!/^\d+$/.test(text.slice(5)) || !Number.isSafeInteger(fd)) throw new UsageError(`invalid --bind '${text}' (expected fd://N)`);
    return { kind: 'fd', fd };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  if (!m || host === undefined || !(host === '' || host === 'localhost' || isIP(host))) {
    const forms = `HOST:PORT with a numeric address, [V6]:PORT or :PORT${tcpOnly ? '' : ', unix:PATH or fd://N'}`;
    throw new UsageError(`invalid ${option} '${text}' (expected ${forms})`);
  }
  return { kind: 'tcp', host: parseHost(host), port: parsePort(m[3]) };
}

/** --socket-mode: octal permission bits for the unix sockets this server binds. */
function parseSocketMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new UsageError(`invalid --socket-mode '${text}' (expected octal, e.g. 0660)`);
  return parseInt(text, 8);
}

function defaultWorkers(): string {
  return process.env.WEB_CONCURRENCY || String(os.availableParallelism?.() ?? os.cpus().length);
}

/** --status-page HOST:PORT, [V6]:PORT or :PORT (all IPv4 interfaces). */
function parseStatusPage(text: string): { host: string; port: number } {
  const spec = parseBind(text, '--status-page', true) as Extract<BindSpec, { kind: 'tcp' }>;
  return { host: spec.host, port: spec.port };
}

/** `forkserve status PATH [--json]`: asks a master started with --status-socket PATH for its workers. */
async function statusCommand(): Promise<void> {
  const parsed = parseCommand({
    command: 'status',
    summary: "Shows a running forkserve's master and workers: each worker's state (booting, idle, busy, stopping,\nstuck), its request in flight and for how long, connections, requests served, RSS and PSS, age.",
    positionals: 'PATH',
    details: [
      'PATH is the master\'s --status-socket. A worker is stuck when its event loop has not run for 2 s.',
      'RSS and PSS come from /proc/<pid>/smaps_rollup (Linux); elsewhere they show as -.',
      'Example: node dist/forkserve.js status /run/app.status --json | jq \'.workers[] | select(.state == "busy")\'',
    ].join('\n'),
    options: {
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: String(STATUS_TIMEOUT_MS / 1000) },
      help: { type: 'boolean', short: 'h', default: false },
    },
    help: {
      json: 'print the snapshot as JSON (for machines) instead of a table',
      timeout: `seconds to wait for the master's answer (default: ${STATUS_TIMEOUT_MS / 1000})`,
      help: 'show this help and exit',
    },
  });
  if (parsed.positionals.length !== 1) throw new UsageError('one PATH expected: the --status-socket of a running forkserve');
  const timeoutMs = parseNumber('timeout', parsed.values.timeout as string) * 1000;
  const snapshot = await readStatus(parsed.positionals[0], timeoutMs);
  process.stdout.write(parsed.values.json ? `${JSON.stringify(snapshot, null, 2)}\n` : formatStatus(snapshot));
}

if (process.argv[2] === 'status') runMain(statusCommand, 'status');
else runMain(async () => {
  // The master and every worker serve on whatever happens to their output: a stdout or log pipe
  // nobody reads drops lines (counted) instead of freezing them (server/log.ts).
  dropOutputWhenStalled();
  const parsed = parseCommand({
    summary: 'The pre-fork server: the app is loaded once, workers are forked from it (copy-on-write) and each\nserves many connections at once. Express, Koa, Fastify, Hono and fetch handlers run unmodified.',
    positionals: 'module:export',
    details: [
      'Signals to the master: TERM graceful stop (in-flight requests finish, up to --graceful-timeout), INT/QUIT',
      'quick stop (twice: at once), HUP replace every worker, TTIN/TTOU one worker more/fewer, USR2 upgrade',
      '(a new master loads the new code on the same sockets; the old one stops once it is ready), USR1 reopen',
      'the --access-log file (after logrotate moved it).',
      'systemd: socket activation (LISTEN_FDS, replaces --bind) and sd_notify (NOTIFY_SOCKET) are honoured.',
      'Example: node dist/forkserve.js -w 4 --port 8000 examples/express/app.js:app',
      'Status: node dist/forkserve.js status PATH [--json] shows the workers of a master started with',
      '--status-socket PATH (see status --help).',
    ].join('\n'),
    options: {
      ...SERVER_OPTIONS,
      workers: { type: 'string', short: 'w', default: defaultWorkers() },
      bind: { type: 'string', short: 'b', multiple: true },
      'socket-mode': { type: 'string', default: `0${DEFAULT_SOCKET_MODE.toString(8)}` },
      'forwarded-allow-ips': { type: 'string', default: process.env.FORWARDED_ALLOW_IPS || DEFAULT_FORWARDED_ALLOW_IPS },
      config: { type: 'string', short: 'c' },
      'graceful-timeout': { type: 'string', default: '30' },
      timeout: { type: 'string', short: 't', default: '30' },
      'max-requests': { type: 'string', default: '0' },
      'max-requests-jitter': { type: 'string', default: '0' },
      'worker-connections': { type: 'string', default: '1000' },
      'keep-alive': { type: 'string', default: '5' },
      backlog: { type: 'string', default: '2048' },
      'access-log': { type: 'string' },
      'access-log-format': { type: 'string', default: DEFAULT_ACCESS_LOG_FORMAT },
      'status-socket': { type: 'string' },
      'status-page': { type: 'string' },
      'no-preload': { type: 'boolean', default: false },
      ...appOptions(HEADERS_TIMEOUT_MS / 1000),
    },
    help: {
      ...SERVER_HELP,
      workers: 'worker processes (default: $WEB_CONCURRENCY, else the number of CPUs)',
      bind: 'HOST:PORT ([V6]:PORT, :PORT for all interfaces), unix:PATH or fd://N (a listening socket\nthis process was given) to listen on; repeatable; replaces --host/--port',
      'socket-mode': 'permissions of the unix sockets bound with -b unix:PATH; their peers are trusted as the proxy, so only the owner and its group by default (0666: any local user)',
      'forwarded-allow-ips': 'proxies whose X-Forwarded-For/X-Forwarded-Proto are believed: addresses or networks,\ncomma-separated, or * for all; unix socket peers always (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1)',
      config: 'a JS module exporting settings (workers, bind, timeout ...) and hooks (onStarting, preFork,\npostFork, workerExit, onExit); the command line wins over it',
      'graceful-timeout': 'seconds workers get to finish in-flight requests on TERM (default: 30)',
      timeout: "seconds a worker's event loop may stay blocked before it is killed and replaced; 0: never (default: 30)",
      'max-requests': 'requests after which a worker is restarted gracefully; 0: never (default: 0)',
      'max-requests-jitter': 'up to this many more requests, drawn per worker, so workers do not restart together (default: 0)',
      'worker-connections': "connections a worker holds open at once; at that many it stops accepting (the listen\nbacklog holds the next) until one closes (gunicorn's worker_connections; default: 1000)",
      'keep-alive': 'seconds an idle keep-alive connection stays open (default: 5)',
      backlog: 'listen backlog (default: 2048)',
      'access-log': 'a file to append a line per request to (SIGUSR1 reopens it), or - for stdout (default: none)',
      'access-log-format': "gunicorn's atoms: %(h)s address, %(t)s time, %(r)s request line, %(s)s status, %(b)s body\n" +
        'bytes, %(a)s User-Agent, %(D)s microseconds, %({x-name}i)s a request header ... (README)\n' +
        `(default: '${DEFAULT_ACCESS_LOG_FORMAT}')`,
      'status-socket': "a unix socket (mode 0600) where the master tells its workers' state as JSON, read by\n`forkserve status PATH`; removed when the master exits (default: none)",
      'status-page': 'HOST:PORT of an HTML page of the same, live, and /status.json; anyone who reaches it\nsees the requests in flight: use 127.0.0.1 (default: none)',
      'no-preload': "each worker loads the app itself, after the fork, instead of the master once before it\n(for an app that starts threads at load; costs each worker the load and the shared memory)",
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
  const workerConnections = parseNumber('worker-connections', values['worker-connections'] as string, { integer: true, min: 1 });
  const backlog = parseNumber('backlog', values.backlog as string, { integer: true, min: 1 });
  const statusSocket = values['status-socket'] as string | undefined;
  const statusPage = values['status-page'] === undefined ? undefined : parseStatusPage(values['status-page'] as string);
  const http = {
    server: values['no-server-header'] ? '' : serverHeader(),
    keepAliveTimeoutMs: parseNumber('keep-alive', values['keep-alive'] as string) * 1000,
    headersTimeoutMs: parseNumber('headers-timeout', values['headers-timeout'] as string) * 1000,
    requestTimeoutMs: parseNumber('request-timeout', values['request-timeout'] as string) * 1000,
    maxBodyBytes: parseNumber('max-body', values['max-body'] as string, { integer: true }),
    sendTimeoutMs: parseNumber('send-timeout', values['send-timeout'] as string) * 1000,
  };
  const paths = warmUpPaths(values);
  // Opened before the app loads: a path that cannot be written fails at once, and workers inherit it.
  const accessLog = values['access-log'] === undefined ? undefined : AccessLog.open(values['access-log'] as string, values['access-log-format'] as string);
  const forwarded = parseForwardedAllowIps(values['forwarded-allow-ips'] as string);
  if (typeof forwarded === 'string') throw new UsageError(`invalid --forwarded-allow-ips: ${forwarded}`);
  const socketMode = parseSocketMode(values['socket-mode'] as string);
  const binds = ((values.bind as string[] | undefined) ?? []).map((b) => parseBind(b));
  const specs: BindSpec[] = binds.length > 0 ? binds : [{ kind: 'tcp', ...serverAddress(values) }];
  // Sockets handed over (an upgrade's, systemd's) replace --bind; taken before the app loads, so
  // that the environment the app sees no longer names them.
  const upgrade = takeUpgrade();
  const activated = takeListenFds();
  // --no-preload: the master never loads the app; each worker does, after its fork (loadInWorker).
  const preload = !values['no-preload'];
  let app = preload ? await loadAppSpec(spec, forced) : undefined;
  if (app) await warmUpGateway(app, { ...http, forwarded }, paths);
  const socketIo = app ? socketIoAdvice(workers) : undefined;
  if (socketIo) warn(socketIo);
  const loadInWorker = preload
    ? undefined
    : async (): Promise<void> => {
        app = await loadAppSpec(spec, forced);
        await warmUpGateway(app, { ...http, forwarded }, paths);
      };
  // Before the listeners and the serving line: an app that cannot be forked is refused here.
  setForkPolicy({
    log: warn,
    after: 'in a postFork hook (--config) or lazily at the first request, or run with --no-preload',
  });
  prepareFork();
  let listeners: PreforkListener[];
  if (upgrade) listeners = upgrade.listeners;
  else if (activated.length > 0) listeners = activated.map((fd) => adopt(fd, 'systemd socket activation (LISTEN_FDS)', false));
  else {
    listeners = openListeners(specs, { backlog, socketMode });
    for (const exposure of specs.map((b) => unixExposure(b, socketMode))) if (exposure) warn(`warning: ${exposure}`);
  }
  const addresses = listeners.map((l) => ({ address: l.kind === 'unix' ? `unix:${l.address}` : l.address, port: l.port }));
  const master = new Master({
    hooks: config?.hooks,
    addresses,
    listeners,
    upgrade,
    workers,
    gracefulTimeoutMs,
    timeoutMs,
    maxRequests,
    maxRequestsJitter,
    workerConnections,
    makeServe: (observer) => gatewayHandler(app!, { ...http, observer, forwarded }, reportAppError),
    loadInWorker,
    accessLog,
    statusSocket,
    statusPage,
  });
  // Before the first fork (every worker closes what it inherits), and before the serving line: a
  // status socket that cannot be opened stops the start, and the listeners go with it.
  let statusLines: string[];
  try {
    statusLines = await master.listenStatus();
  } catch (err) {
    closeListeners(listeners, !upgrade);
    throw err;
  }
  const first = listeners[0];
  say(first.kind === 'unix' ? `Serving HTTP on ${describeListener(first)} ...` : servingLine(first.port));
  for (const l of listeners) {
    if (listeners.length > 1) say(`Listening at: ${describeListener(l)}`);
    // Every worker watches it; the one whose accept() wins takes the connection, the others get EAGAIN.
    setNonBlocking(l.fd, true);
  }
  for (const line of statusLines) say(line);
  const serving = app ? describeApp(app, spec) : `${spec} (loaded by each worker: --no-preload)`;
  say(`Serving ${serving} with ${workers} ${workers === 1 ? 'worker' : 'workers'}`);
  await config?.hooks.onStarting?.({ workers, addresses });
  master.start();
});
