// A pre-fork worker: a child forked from the master with the app already loaded. It accepts from
// the shared listeners and serves many connections at once through the gateway (keep-alive,
// pipelining, streaming) on its own event loop, until the master tells it to stop:
//   SIGTERM  graceful: stop accepting, close idle keep-alive connections at once, finish requests
//            in flight with Connection: close, then exit 0 (the master SIGKILLs at its deadline)
//   SIGQUIT  quick: exit now
//   SIGINT   ignored: a terminal's Ctrl-C reaches the whole process group, and the master decides
// A worker whose master is gone (its parent pid changed) stops gracefully by itself.

import { drainConnections } from '../gateway';
import { FdWatcher, SIGINT, SOCK_CLOEXEC, UV_READABLE, _exit, accept, close, getppid, isErrno, sigaction, type SocketAddress } from '../posix';
import { ACCEPT_RETRY_DELAY_MS, EXHAUSTION_CODES } from '../server/accept';
import { warn } from '../server/log';

/** Connections accepted per wake-up of a listener, before the event loop runs again. */
const ACCEPT_BURST = 16;
/** How often a worker checks that its master is still there (where no death signal exists). */
const MASTER_CHECK_MS = 500;

export interface WorkerOptions {
  listenFds: number[];
  /** Serves one accepted connection; settles when it is closed. */
  serve: (fd: number, peer: SocketAddress) => Promise<void>;
  masterPid: number;
  /** Called once per accepted connection (the scoreboard counts them). */
  onConnection?: () => void;
}

export function runWorker({ listenFds, serve, masterPid, onConnection }: WorkerOptions): void {
  let open = 0;
  let stopping = false;
  const watchers: FdWatcher[] = [];

  for (const fd of listenFds) {
    const watcher = new FdWatcher(fd, (status) => {
      if (status >= 0 && !stopping) acceptFrom(fd, watcher);
    }).start(UV_READABLE);
    watchers.push(watcher);
  }

  function acceptFrom(fd: number, watcher: FdWatcher): void {
    for (let n = 0; n < ACCEPT_BURST && !stopping; n++) {
      let client: SocketAddress & { fd: number };
      try {
        client = accept(fd, SOCK_CLOEXEC);
      } catch (err) {
        // EAGAIN: another worker took it (or the queue is empty).
        if (isErrno(err, 'EAGAIN', 'EWOULDBLOCK', 'ECONNABORTED', 'EINTR')) return;
        if (isErrno(err, ...EXHAUSTION_CODES)) {
          warn(`worker ${process.pid}: ${(err as Error).message}; pausing accept for ${ACCEPT_RETRY_DELAY_MS} ms`);
          watcher.stop();
          setTimeout(() => {
            if (!stopping) watcher.start(UV_READABLE);
          }, ACCEPT_RETRY_DELAY_MS);
          return;
        }
        throw err;
      }
      open++;
      onConnection?.();
      void serve(client.fd, client).finally(() => {
        open--;
        if (stopping && open === 0) _exit(0);
      });
    }
  }

  function stopGracefully(): void {
    if (stopping) return;
    stopping = true;
    for (const w of watchers) w.close();
    for (const fd of listenFds) close(fd);
    drainConnections();
    if (open === 0) _exit(0);
  }

  process.on('SIGTERM', stopGracefully);
  process.on('SIGQUIT', () => _exit(0));
  if (process.listenerCount('SIGINT') === 0) sigaction(SIGINT, 'ignore');
  const masterCheck = setInterval(() => {
    if (getppid() !== masterPid) stopGracefully();
  }, MASTER_CHECK_MS);
  masterCheck.unref();
}
