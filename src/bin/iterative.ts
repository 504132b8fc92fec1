// Stage 3a (part3/webserver3a.py): stage 1 with a listen backlog of 5. Still one client at a time.

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, runMain, serverAddress } from '../cli';
import { serveIterative } from '../server/iterative';
import { listenAndAnnounce } from '../server/listener';

const REQUEST_QUEUE_SIZE = 5;

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stage 3a: an iterative server (backlog 5). One client at a time; the canned response to any request.',
    options: SERVER_OPTIONS,
    help: SERVER_HELP,
  });
  const listener = listenAndAnnounce({ ...serverAddress(values), backlog: REQUEST_QUEUE_SIZE });
  serveIterative({ listener });
});
