// The iterative model (webserver1, webserver3a, webserver3b): one client at a time, the loop
// blocking in accept(). A sleep after the response shows that the backlog is a queue, not
// concurrency: the next client waits in the kernel until this one is closed.

import { close } from '../posix';
import { acceptClient } from './accept';
import { sleepMs } from './child';
import type { Listener } from './listener';
import { answerCanned } from './tutorial';

export interface IterativeOptions {
  listener: Listener;
  /** Milliseconds to sleep after answering, before closing the client (webserver3b). */
  sleepMs?: number;
}

export function serveIterative({ listener, sleepMs: pause = 0 }: IterativeOptions): never {
  for (;;) {
    const client = acceptClient(listener.fd);
    try {
      answerCanned(client.fd);
      sleepMs(pause);
    } finally {
      close(client.fd);
    }
  }
}
