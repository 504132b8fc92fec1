// Stages 3e + 3f (part3/webserver3e.py, webserver3f.py): a SIGCHLD handler that waits once per
// delivered signal and prints "Child <pid> terminated with status <status>"; accept() is restarted
// after EINTR. Signals are not queued, though: when many children exit together fewer SIGCHLDs
// arrive than children, and the once-per-signal reaper leaves zombies behind.
// --no-eintr-retry reproduces 3e: the first SIGCHLD that interrupts accept() ends the server.

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, parseNumber, runMain, serverAddress } from '../cli';
import { serveForking } from '../server/forking';
import { listenAndAnnounce } from '../server/listener';

const REQUEST_QUEUE_SIZE = 1024;

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stages 3e/3f: a SIGCHLD handler that reaps once per signal; accept() restarted on EINTR.',
    details:
      'Burst it: node dist/client2.js --max-clients 128 --max-conns 1, then look for zombies (node dist/ps.js <pid>).\n' +
      'The 3e crash: --no-eintr-retry --sleep 3, then one request.',
    options: {
      ...SERVER_OPTIONS,
      sleep: { type: 'string', default: '0' },
      'no-eintr-retry': { type: 'boolean', default: false },
    },
    help: {
      ...SERVER_HELP,
      sleep: 'seconds each child sleeps after answering (default: 0; 3e used 3)',
      'no-eintr-retry': 'do not restart accept() after EINTR (webserver3e: the server dies)',
    },
  });
  const sleepSeconds = parseNumber('sleep', values.sleep as string);
  const listener = listenAndAnnounce({ ...serverAddress(values), backlog: REQUEST_QUEUE_SIZE });
  serveForking({ listener, reap: 'once', childSleepMs: sleepSeconds * 1000, eintrRetry: !values['no-eintr-retry'] });
});
