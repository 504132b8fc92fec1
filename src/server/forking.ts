// Fork per connection with a blocking accept() loop: the tutorial's webserver3c-3f, faithfully.
// The parent accepts, forks, and (unless keepClientOpen reproduces webserver3d's mistake) closes
// its copy of the client socket; the child serves and leaves through _exit(). Reaping follows
// `reap` (none / once per signal / loop) and runs after every return from accept(), because the
// event loop cannot run while accept() blocks.

import { close, dispatchSignals, fork, prepareFork } from '../posix';
import { acceptClient } from './accept';
import { runChild } from './child';
import type { Listener } from './listener';
import { say } from './log';
import { installReaper, type ReapPolicy } from './reaper';
import { answerCanned } from './tutorial';

export interface ForkingOptions {
  listener: Listener;
  reap: ReapPolicy;
  /** webserver3d: the parent keeps every client socket open and prints how many it holds. */
  keepClientOpen?: boolean;
  /** Milliseconds the child sleeps after answering, before closing (3c: 60 s, 3e: 3 s). */
  childSleepMs?: number;
  /** Print "Child PID: ... Parent PID ..." in each child (3c/3d). */
  banner?: boolean;
  /** Retry accept() after EINTR (3f). false reproduces 3e: the EINTR ends the server. */
  eintrRetry?: boolean;
  /** Keep serving through EMFILE/ENFILE (retry after a pause); false dies like the original. */
  retryExhaustion?: boolean;
}

export function serveForking(options: ForkingOptions): never {
  const { listener, reap, keepClientOpen = false, childSleepMs = 0, banner = false } = options;
  const clients: number[] = [];
  prepareFork();
  // Without SA_RESTART, as in the tutorial: a SIGCHLD that lands during accept() is an EINTR.
  installReaper(reap, {
    restart: false,
    onExit: (e) => say(`Child ${e.pid} terminated with status ${e.status}`),
  });
  for (;;) {
    const client = acceptClient(listener.fd, {
      afterReturn: dispatchSignals,
      failOnEintr: options.eintrRetry === false,
      retryExhaustion: options.retryExhaustion ?? true,
    });
    if (keepClientOpen) clients.push(client.fd);
    const pid = fork();
    if (pid === 0) {
      runChild({ listenFd: listener.fd, clientFd: client.fd, handle: answerCanned, sleepMs: childSleepMs, banner });
    }
    if (keepClientOpen) say(String(clients.length));
    else close(client.fd);
  }
}
