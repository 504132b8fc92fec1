// Stage 3b (part3/webserver3b.py): 3a, but the server sleeps after answering, before closing the
// client. A second client waits in the kernel's accept queue the whole time: the backlog is a queue,
// not concurrency (with backlog 5, Linux completes 6 queued connections plus the one being served;
// further SYNs are dropped and retried by the client).

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, parseNumber, runMain, serverAddress } from '../cli';
import { serveIterative } from '../server/iterative';
import { listenAndAnnounce } from '../server/listener';

const REQUEST_QUEUE_SIZE = 5;

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stage 3b: the iterative server that sleeps after each response before closing the client.',
    details: 'Try two curls at once: the second waits for the first one\'s sleep before it gets a byte.',
    options: { ...SERVER_OPTIONS, sleep: { type: 'string', default: '60' } },
    help: { ...SERVER_HELP, sleep: 'seconds to sleep after each response (default: 60)' },
  });
  const sleepSeconds = parseNumber('sleep', values.sleep as string);
  const listener = listenAndAnnounce({ ...serverAddress(values), backlog: REQUEST_QUEUE_SIZE });
  serveIterative({ listener, sleepMs: sleepSeconds * 1000 });
});
