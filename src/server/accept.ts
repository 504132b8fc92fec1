// accept() for the blocking tutorial loops: EINTR and ECONNABORTED are retried; running out of
// descriptors (EMFILE/ENFILE) or memory is reported and retried after a pause instead of spinning
// or crashing (the kernel keeps the connection queued meanwhile).

import { SOCK_CLOEXEC, accept, isErrno, type SocketAddress } from '../posix';
import { sleepMs } from './child';
import { warn } from './log';

export const ACCEPT_RETRY_DELAY_MS = 100;

/** accept() failures that mean "out of descriptors or memory", not "bad listener". */
export const EXHAUSTION_CODES = ['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM'];

export interface AcceptOptions {
  /** Called after every return from accept() (also EINTR): the place to reap in a blocking loop. */
  afterReturn?: () => void;
  /** Rethrow EINTR instead of retrying (the tutorial's webserver3e crash). */
  failOnEintr?: boolean;
  /** Retry EMFILE/ENFILE/ENOBUFS/ENOMEM after a pause (default) instead of rethrowing. */
  retryExhaustion?: boolean;
}

/** Blocks until a client connects; returns its fd and address. */
export function acceptClient(listenFd: number, options: AcceptOptions = {}): SocketAddress & { fd: number } {
  for (;;) {
    try {
      const client = accept(listenFd, SOCK_CLOEXEC);
      options.afterReturn?.();
      return client;
    } catch (err) {
      options.afterReturn?.();
      if (isErrno(err, 'EINTR') && !options.failOnEintr) continue;
      if (isErrno(err, 'ECONNABORTED')) continue;
      if (isErrno(err, ...EXHAUSTION_CODES) && options.retryExhaustion !== false) {
        warn(`${(err as Error).message}; retrying in ${ACCEPT_RETRY_DELAY_MS} ms`);
        sleepMs(ACCEPT_RETRY_DELAY_MS);
        continue;
      }
      throw err;
    }
  }
}
