// Stage 3d (part3/webserver3d.py): the classic mistake. The parent does not close its copy of the
// client socket (it keeps them in a list and prints how many), so a client reading to EOF never
// gets it: curl prints "Hello, World!" and hangs. Every request costs the parent one descriptor
// until accept() fails with EMFILE ("Too many open files") and the server dies, as the original
// did. No reaping either: one zombie per request.

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, runMain, serverAddress } from '../cli';
import { serveForking } from '../server/forking';
import { listenAndAnnounce } from '../server/listener';

const REQUEST_QUEUE_SIZE = 5;

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stage 3d: fork per connection, but the parent never closes client sockets (leaked fds, hanging clients, zombies).',
    details: 'Try: curl http://localhost:8888/hello (it never ends), then ulimit -n 256 and node dist/client2.js --max-clients 300 --max-conns 1.',
    options: SERVER_OPTIONS,
    help: SERVER_HELP,
  });
  const listener = listenAndAnnounce({ ...serverAddress(values), backlog: REQUEST_QUEUE_SIZE });
  serveForking({ listener, reap: 'none', keepClientOpen: true, banner: true, retryExhaustion: false });
});
