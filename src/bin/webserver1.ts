// Stage 1 (part1/webserver1.py): the smallest web server. socket + bind + listen(1) + accept, then
// one read of the request, which is printed, and the same canned response to any bytes at all.
// One client at a time: the loop blocks in accept().

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, runMain, serverAddress } from '../cli';
import { serveIterative } from '../server/iterative';
import { listenAndAnnounce } from '../server/listener';

const BACKLOG = 1;

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stage 1 of "Let\'s Build A Web Server": an iterative server that answers every request with\n"HTTP/1.1 200 OK\\n\\nHello, World!\\n" and prints the raw request it read.',
    details: 'Try: curl -v http://localhost:8888/hello   or   telnet localhost 8888',
    options: SERVER_OPTIONS,
    help: SERVER_HELP,
  });
  const listener = listenAndAnnounce({ ...serverAddress(values), backlog: BACKLOG });
  serveIterative({ listener });
});
