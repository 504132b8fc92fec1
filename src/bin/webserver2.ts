// Part 2 (part2/webserver2.py): the gateway server. Any framework's app runs on it unmodified:
// `node dist/webserver2.js examples/express/app.js:app`, as `python webserver2.py djangoapp:app`
// ran Django. It prints each request line (prefixed "< ") and response line ("> "), so you can see
// which headers the app wrote (status, Content-Type, body) and which the server added (Date,
// Server). Iterative: one connection at a time, one request per connection, as in the tutorial.

import { MAX_BODY_BYTES, SERVER_HELP, SERVER_OPTIONS, appArgument, parseCommand, parseNumber, runMain, serverAddress } from '../cli';
import { gatewayHandler } from '../gateway';
import { describeApp, loadAppSpec, reportAppError } from '../server/gateway-app';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS } from '../server/http-connection';
import { serverHeader } from '../server/hello-app';
import { serveIterativeAsync } from '../server/iterative';
import { listenAndAnnounce } from '../server/listener';
import { say } from '../server/log';
import { printTracer } from '../server/trace';
import { SHUT_RDWR, shutdown } from '../posix';

const BACKLOG = 5;

runMain(async () => {
  const parsed = parseCommand({
    summary: 'Part 2 of "Let\'s Build A Web Server": the gateway server. Runs an Express, Koa, Fastify or Hono app\n(or any (req, res) listener or fetch handler) unmodified, one connection at a time.',
    positionals: 'module:export',
    details: [
      'The app: a file (CommonJS or ESM) and the name of its export; the export defaults to `app`, then the',
      "default export. Examples: examples/express/app.js:app   examples/hono/app.mjs   examples/koa/app.js:app",
      'Detection order: http.Server, Koa, Fastify, (req, res) function, object with fetch(), (request) function.',
    ].join('\n'),
    options: {
      ...SERVER_OPTIONS,
      interface: { type: 'string' },
      quiet: { type: 'boolean', short: 'q', default: false },
      'max-body': { type: 'string', default: String(MAX_BODY_BYTES) },
      backlog: { type: 'string', default: String(BACKLOG) },
      'headers-timeout': { type: 'string', default: String(HEADERS_TIMEOUT_MS / 1000) },
    },
    help: {
      ...SERVER_HELP,
      interface: 'node or fetch: how to call the app, instead of detecting it',
      quiet: 'do not print requests and responses',
      'max-body': `largest request body in bytes, else 413 (default: ${MAX_BODY_BYTES})`,
      backlog: `listen backlog: connections the kernel queues while one is served (default: ${BACKLOG})`,
      'headers-timeout': 'seconds a request head (or a stalled body) may take before 408 (default: 10)',
    },
  });
  const { values } = parsed;
  if (parsed.positionals.length === 0) {
    process.stderr.write('Provide an app as module:export\n');
    process.exit(1);
  }
  const { spec, forced } = appArgument(parsed);
  const address = serverAddress(values);
  const maxBodyBytes = parseNumber('max-body', values['max-body'] as string, { integer: true });
  const backlog = parseNumber('backlog', values.backlog as string, { integer: true, min: 1 });
  const app = await loadAppSpec(spec!, forced);
  const listener = listenAndAnnounce({ ...address, backlog });
  say(`Serving ${describeApp(app, spec!)}`);
  const handle = gatewayHandler(
    app,
    {
      server: serverHeader(),
      keepAlive: false,
      keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeoutMs: parseNumber('headers-timeout', values['headers-timeout'] as string) * 1000,
      maxBodyBytes,
      trace: values.quiet ? undefined : printTracer(),
    },
    reportAppError,
  );
  // One process serves everyone: an app's asynchronous throw or unhandled rejection is reported and
  // ends the connection it happened on (the likeliest culprit), not the server.
  let current = -1;
  const contain = (err: unknown): void => {
    reportAppError(err);
    if (current >= 0) {
      try {
        shutdown(current, SHUT_RDWR); // the connection sees EOF and closes; its app hears 'aborted'
      } catch {
        /* already closed */
      }
    }
  };
  process.on('uncaughtException', contain);
  process.on('unhandledRejection', contain);
  await serveIterativeAsync(listener, (fd, peer) => {
    current = fd;
    return handle(fd, peer).finally(() => (current = -1));
  });
});
