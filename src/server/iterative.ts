// The iterative model (webserver1, webserver3a, webserver3b): one client at a time, the loop
// blocking in accept(). A sleep after the response shows that the backlog is a queue, not
// concurrency: the next client waits in the kernel until this one is closed. webserver2 runs the
// same model on the event loop, since an app answers asynchronously.

import { FdWatcher, SOCK_CLOEXEC, UV_READABLE, accept, close, isErrno, setNonBlocking, type SocketAddress } from '../posix';
import { ACCEPT_RETRY_DELAY_MS, EXHAUSTION_CODES, acceptClient } from './accept';
import { warn } from './log';
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

/**
 * The iterative model on the event loop, for handlers that finish later (webserver2 running an
 * app): accept one client, serve it until its connection is closed, then accept the next. Never
 * resolves; SIGINT/SIGTERM end the process as usual.
 */
export async function serveIterativeAsync(listener: Listener, handle: (fd: number, peer: SocketAddress) => Promise<void>): Promise<never> {
  setNonBlocking(listener.fd, true);
  for (;;) {
    const client = await acceptNext(listener.fd);
    await handle(client.fd, client);
  }
}

/** Waits (on the event loop) for a connection and accepts it. */
function acceptNext(fd: number): Promise<SocketAddress & { fd: number }> {
  return new Promise((resolve, reject) => {
    const watcher = new FdWatcher(fd, (status) => {
      if (status < 0) return;
      try {
        const client = accept(fd, SOCK_CLOEXEC);
        watcher.close();
        resolve(client);
      } catch (err) {
        if (isErrno(err, 'EAGAIN', 'EINTR', 'ECONNABORTED')) return;
        if (isErrno(err, ...EXHAUSTION_CODES)) {
          warn(`${(err as Error).message}; pausing accept for ${ACCEPT_RETRY_DELAY_MS} ms`);
          watcher.stop();
          setTimeout(() => watcher.start(UV_READABLE), ACCEPT_RETRY_DELAY_MS);
          return;
        }
        watcher.close();
        reject(err);
      }
    });
    watcher.start(UV_READABLE);
  });
}
