// Stage 3g (part3/webserver3g.py): the final server. SIGCHLD runs a reaper that loops
// waitpid(-1, WNOHANG) until nothing is left: "No more zombies, this time for real". Built on the
// event loop (non-blocking listener + SIGCHLD wake-up) so it can also survive running out of
// descriptors, a refused fork() and shut down cleanly on SIGTERM/SIGINT.

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, parseHost, parseNumber, parsePort, runMain } from '../cli';
import { GRACEFUL_TIMEOUT_MS, serveForkingEvented } from '../server/forking-evented';
import { createListener, servingLine } from '../server/listener';
import { say } from '../server/log';
import { answerCanned } from '../server/tutorial';
import { SOMAXCONN } from '../posix';

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stage 3g, the final server: fork per connection, every child reaped, robust under load.',
    details: 'Burst it (node dist/client2.js --max-clients 128) or load it (ab -n 5000 -c 50): no zombies remain.',
    options: {
      ...SERVER_OPTIONS,
      sleep: { type: 'string', default: '0' },
      backlog: { type: 'string', default: String(Math.max(1024, SOMAXCONN)) },
      'graceful-timeout': { type: 'string', default: String(GRACEFUL_TIMEOUT_MS / 1000) },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
    help: {
      ...SERVER_HELP,
      sleep: 'seconds each child sleeps after answering (default: 0)',
      backlog: 'listen backlog (default: 1024)',
      'graceful-timeout': 'seconds to wait for children on SIGTERM/SIGINT before killing them (default: 10)',
      quiet: 'do not print each request',
    },
  });
  const sleepSeconds = parseNumber('sleep', values.sleep as string);
  const backlog = parseNumber('backlog', values.backlog as string, { integer: true, min: 1 });
  const graceSeconds = parseNumber('graceful-timeout', values['graceful-timeout'] as string);
  const quiet = Boolean(values.quiet);
  const listener = createListener({ host: parseHost(values.host as string), port: parsePort(values.port as string), backlog });
  say(servingLine(listener.port));
  serveForkingEvented({
    listener,
    handle: (fd) => answerCanned(fd, { quiet }),
    childSleepMs: sleepSeconds * 1000,
    gracefulTimeoutMs: graceSeconds * 1000,
    onStopped: ({ children, killed }) => {
      say(`Stopped after ${children} connections${killed ? `; killed ${killed} children that outlived the grace period` : ''}.`);
      process.exit(0);
    },
  });
});
