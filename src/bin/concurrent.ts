// Stage 3c (part3/webserver3c.py): fork per connection. fork() returns twice: the child closes its
// copy of the listener, answers, sleeps, closes the client and _exit()s; the parent closes its copy
// of the client socket and goes back to accept(). Nobody waits for the children, so each finished
// child stays a zombie (Z in ps) until the server exits.

import { SERVER_HELP, SERVER_OPTIONS, parseCommand, parseNumber, runMain, serverAddress } from '../cli';
import { serveForking } from '../server/forking';
import { listenAndAnnounce } from '../server/listener';

const REQUEST_QUEUE_SIZE = 5;

runMain(() => {
  const { values } = parseCommand({
    summary: 'Stage 3c: fork per connection; the child sleeps before closing; no reaping (zombies).',
    details: 'Watch the zombies: ps -o pid,ppid,stat,cmd --ppid <server pid>   (or node dist/ps.js <server pid>)',
    options: { ...SERVER_OPTIONS, sleep: { type: 'string', default: '60' } },
    help: { ...SERVER_HELP, sleep: 'seconds each child sleeps after answering (default: 60)' },
  });
  const sleepSeconds = parseNumber('sleep', values.sleep as string);
  const listener = listenAndAnnounce({ ...serverAddress(values), backlog: REQUEST_QUEUE_SIZE });
  serveForking({ listener, reap: 'none', childSleepMs: sleepSeconds * 1000, banner: true });
});
