// Stage 1 (part1/webserver1.py): the smallest web server. socket + bind + listen(1) + accept, then
// one read of the request, which is printed, and the same canned response to any bytes at all.
// One client at a time: the loop blocks in accept().

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, parseHost, parsePort, runMain } from '../cli';
import { acceptClient } from '../server/accept';
import { createListener, servingLine } from '../server/listener';
import { say } from '../server/log';
import { serveCannedAndClose } from '../server/tutorial';

const BACKLOG = 1;

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stage 1 of "Let\'s Build A Web Server": an iterative server that answers every request with\n"HTTP/1.1 200 OK\\n\\nHello, World!\\n" and prints the raw request it read.',
    details: 'Try: curl -v http://localhost:8888/hello   or   telnet localhost 8888',
    options: SERVER_OPTIONS,
    help: SERVER_HELP,
  });
  const listener = createListener({ host: parseHost(values.host as string), port: parsePort(values.port as string), backlog: BACKLOG });
  say(servingLine(listener.port));
  for (;;) {
    const client = acceptClient(listener.fd);
    serveCannedAndClose(client.fd);
  }
});
