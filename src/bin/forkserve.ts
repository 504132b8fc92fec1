// forkserve, the pre-fork server: a master loads the app once and forks workers that share its
// memory copy-on-write; each worker serves many connections at once through the gateway. What
// gunicorn, Unicorn and Pitchfork are to Python and Ruby. See src/prefork/.

import * as os from 'node:os';
import { SERVER_HELP, SERVER_OPTIONS, UsageError, appArgument, parseCommand, parseNumber, runMain, serverAddress } from '../cli';
import { gatewayHandler } from '../gateway';
import { Master } from '../prefork/master';
import { describeApp, loadAppSpec, reportAppError, warmUpGateway } from '../server/gateway-app';
import { serverHeader } from '../server/hello-app';
import { HEADERS_TIMEOUT_MS } from '../server/http-connection';
import { listenAndAnnounce } from '../server/listener';
import { say } from '../server/log';
import { setNonBlocking } from '../posix';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

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
      'graceful-timeout': { type: 'string', default: '30' },
      timeout: { type: 'string', short: 't', default: '30' },
      'max-requests': { type: 'string', default: '0' },
      'max-requests-jitter': { type: 'string', default: '0' },
      'keep-alive': { type: 'string', default: '5' },
      backlog: { type: 'string', default: '2048' },
      'headers-timeout': { type: 'string', default: String(HEADERS_TIMEOUT_MS / 1000) },
      'max-body': { type: 'string', default: String(MAX_BODY_BYTES) },
      interface: { type: 'string' },
      'warm-up': { type: 'string', default: '' },
    },
    help: {
      ...SERVER_HELP,
      workers: 'worker processes (default: $WEB_CONCURRENCY, else the number of CPUs)',
      'graceful-timeout': 'seconds workers get to finish in-flight requests on TERM (default: 30)',
      timeout: "seconds a worker's event loop may stay blocked before it is killed and replaced; 0: never (default: 30)",
      'max-requests': 'requests after which a worker is restarted gracefully; 0: never (default: 0)',
      'max-requests-jitter': 'up to this many more requests, drawn per worker, so workers do not restart together (default: 0)',
      'keep-alive': 'seconds an idle keep-alive connection stays open (default: 5)',
      backlog: 'listen backlog (default: 2048)',
      'headers-timeout': 'seconds a request head may take to arrive, else 408 (default: 10)',
      'max-body': `largest request body in bytes, else 413 (default: ${MAX_BODY_BYTES})`,
      interface: 'node or fetch, how to call the app, instead of detecting it',
      'warm-up': 'comma-separated paths to GET a few times in the master before forking (routes without side effects)',
    },
  });
  const { values } = parsed;
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
  const warmUpPaths = (values['warm-up'] as string).split(',').filter(Boolean);
  for (const p of warmUpPaths) if (!p.startsWith('/')) throw new UsageError(`invalid --warm-up path '${p}' (expected /...)`);
  const address = serverAddress(values);
  const app = await loadAppSpec(spec, forced);
  await warmUpGateway(app, http, warmUpPaths);
  const listener = listenAndAnnounce({ ...address, backlog });
  // Every worker watches it; the one whose accept() wins takes the connection, the others get EAGAIN.
  setNonBlocking(listener.fd, true);
  say(`Serving ${describeApp(app, spec)} with ${workers} ${workers === 1 ? 'worker' : 'workers'}`);
  new Master({
    listenFds: [listener.fd],
    workers,
    gracefulTimeoutMs,
    timeoutMs,
    maxRequests,
    maxRequestsJitter,
    makeServe: (observer) => gatewayHandler(app, { ...http, observer }, reportAppError),
  }).start();
});
