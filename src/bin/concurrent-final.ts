// Stage 3g (part3/webserver3g.py): the final server. SIGCHLD runs a reaper that loops
// waitpid(-1, WNOHANG) until nothing is left: "No more zombies, this time for real". Built on the
// event loop (non-blocking listener + SIGCHLD wake-up) so it can also survive running out of
// descriptors, a refused fork() and shut down cleanly on SIGTERM/SIGINT. Each child speaks real
// HTTP/1.1 (keep-alive, parse errors answered with their status); --canned gives the tutorial's
// 31 bytes instead. With `module:export` it hosts an app (Express, Koa, Fastify, Hono ...): the
// tutorial's webserver3h. The app is loaded once here; each child serves its connection to it, so
// a bad request or a crashing handler only ends that child.

import {
  SERVER_HELP, SERVER_OPTIONS, UsageError, appArgument, appHelp, appOptions, parseCommand, parseNumber, runMain, serverAddress, warmUpPaths,
} from '../cli';
import { GRACEFUL_TIMEOUT_MS, MAX_CHILDREN, serveForkingEvented, whenStopped } from '../server/forking-evented';
import { LARGE_PAGES_MODES, type LargePagesMode, moveCodeToHugePages } from '../server/large-pages';
import { listenAndAnnounce } from '../server/listener';
import { plural, say, warn } from '../server/log';
import { answerCanned } from '../server/tutorial';
import { helloApp, serverHeader } from '../server/hello-app';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, serveHttpConnection, warmUpHttpPath } from '../server/http-connection';
import { drainConnections, gatewayHandler } from '../gateway';
import { nextForkPerConnectionAdvice } from '../server/framework-advice';
import { describeApp, loadAppSpec, reportAppError, warmUpGateway } from '../server/gateway-app';
import { SOMAXCONN, prepareFork, setForkPolicy, type SocketAddress } from '../posix';
import { errorResponse } from '../http/response';

runMain(async () => {
  const parsed = parseCommand({
    summary: 'Stage 3g, the final server: fork per connection, every child reaped, robust under load.\nWith module:export it serves that app (Express, Koa, Fastify, Hono ...) instead of its hello app (3h).',
    positionals: '[module:export]',
    details: [
      'Burst it (node dist/client2.js --max-clients 128 --max-conns 1) or load it (ab -n 5000 -c 50): no zombies remain.',
      'An app: node dist/concurrent-final.js examples/express/app.js:app   (see node dist/webserver2.js --help)',
      'Stopping: TERM or Ctrl-C stops accepting; children finish the requests in progress (Connection: close)',
      'and close idle keep-alive connections at once; a second TERM or Ctrl-C kills them at once. Exit 0.',
    ].join('\n'),
    options: {
      ...SERVER_OPTIONS,
      sleep: { type: 'string', default: '0' },
      backlog: { type: 'string', default: String(Math.max(1024, SOMAXCONN)) },
      'graceful-timeout': { type: 'string', default: String(GRACEFUL_TIMEOUT_MS / 1000) },
      'max-children': { type: 'string', default: String(MAX_CHILDREN) },
      quiet: { type: 'boolean', short: 'q', default: false },
      canned: { type: 'boolean', default: false },
      'keep-alive-timeout': { type: 'string', default: String(KEEP_ALIVE_TIMEOUT_MS / 1000) },
      'large-pages': { type: 'string', default: process.env.FORKSERVE_LARGE_PAGES || 'auto' },
      ...appOptions(HEADERS_TIMEOUT_MS / 1000),
    },
    help: {
      ...SERVER_HELP,
      sleep: 'seconds each child sleeps after answering (default: 0)',
      backlog: 'listen backlog (default: 1024)',
      'graceful-timeout': 'seconds to wait for children on SIGTERM/SIGINT before killing them (default: 10)',
      'max-children': `children at once; beyond, connections wait in the backlog (default: ${MAX_CHILDREN})`,
      quiet: 'do not print each request (--canned only)',
      canned: 'answer like the tutorial: one read, print it, the 31 canned bytes, close',
      'keep-alive-timeout': 'seconds an idle keep-alive connection stays open (default: 5)',
      'large-pages': "auto: on Linux, move Node's code onto huge pages before serving, which makes every fork cheaper\n" +
        'for 24-42 MB more memory (shared with the children); off: do not (default: $FORKSERVE_LARGE_PAGES, else auto)',
      ...appHelp(HEADERS_TIMEOUT_MS / 1000),
    },
  });
  const { values } = parsed;
  const { spec, forced } = appArgument(parsed);
  if (spec !== undefined && values.canned) throw new UsageError('--canned answers without an app; give one or the other');
  const sleepSeconds = parseNumber('sleep', values.sleep as string);
  const backlog = parseNumber('backlog', values.backlog as string, { integer: true, min: 1 });
  const graceSeconds = parseNumber('graceful-timeout', values['graceful-timeout'] as string);
  const maxChildren = parseNumber('max-children', values['max-children'] as string, { integer: true, min: 1 });
  const quiet = Boolean(values.quiet);
  const largePages = values['large-pages'] as string;
  if (!(LARGE_PAGES_MODES as readonly string[]).includes(largePages)) {
    throw new UsageError(`--large-pages must be ${LARGE_PAGES_MODES.join(' or ')}, not ${JSON.stringify(largePages)}`);
  }
  const http = {
    server: values['no-server-header'] ? '' : serverHeader(),
    keepAliveTimeoutMs: parseNumber('keep-alive-timeout', values['keep-alive-timeout'] as string) * 1000,
    headersTimeoutMs: parseNumber('headers-timeout', values['headers-timeout'] as string) * 1000,
    requestTimeoutMs: parseNumber('request-timeout', values['request-timeout'] as string) * 1000,
    maxBodyBytes: parseNumber('max-body', values['max-body'] as string, { integer: true }),
    sendTimeoutMs: parseNumber('send-timeout', values['send-timeout'] as string) * 1000,
  };
  const address = serverAddress(values);
  moveCodeToHugePages(largePages as LargePagesMode);
  const app = spec === undefined ? undefined : await loadAppSpec(spec, forced);
  if (!values.canned && !app) warmUpHttpPath(helloApp, http);
  const paths = warmUpPaths(values);
  if (paths.length > 0 && !app) throw new UsageError('--warm-up needs an app (module:export)');
  if (app) await warmUpGateway(app, http, paths);
  const nextCache = app ? nextForkPerConnectionAdvice() : undefined;
  if (nextCache) warn(nextCache);
  // Before the serving line: an app that cannot be forked (threads it started, an open SQLite database) is refused here.
  setForkPolicy({ log: warn, after: 'lazily, at the first request (each child is forked from this process)' });
  prepareFork();
  const listener = listenAndAnnounce({ ...address, backlog });
  let handle: (fd: number, peer: SocketAddress, stopFd: number) => void | Promise<void>;
  if (app) {
    say(`Serving ${describeApp(app, spec!)}`);
    const serve = gatewayHandler(app, http, reportAppError);
    handle = (fd, peer, stopFd) => {
      whenStopped(stopFd, drainConnections);
      return serve(fd, peer);
    };
  } else if (values.canned) handle = (fd) => void answerCanned(fd, { quiet });
  else handle = (fd, _peer, stopFd) => serveHttpConnection(fd, helloApp, { ...http, stopFd });
  serveForkingEvented({
    listener,
    handle,
    // The hello app's path, served once by the parent so that children inherit it compiled.
    rehearsal: !app && !values.canned ? Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 'latin1') : undefined,
    childSleepMs: sleepSeconds * 1000,
    waitForAppWork: Boolean(app),
    gracefulTimeoutMs: graceSeconds * 1000,
    maxChildren,
    firstByte: { timeoutMs: http.headersTimeoutMs, response: errorResponse(408, http.server) },
    onStopped: ({ children, killed, killedWhy }) => {
      say(`Stopped after ${plural(children, 'connection', 'connections')}${killed ? `; killed ${plural(killed, 'child', 'children')} ${killedWhy}` : ''}.`);
      process.exit(0);
    },
  });
});
