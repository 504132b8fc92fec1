// --status-socket PATH: a unix socket in the master; a client that connects gets the status snapshot
// as one line of JSON and the connection closes (`forkserve status PATH` is that client). The file
// is mode 0600 (only this user may ask), made by the master and removed when it exits.
//
// Why the socket is bound under a private name and then renamed to PATH:
//   - fork() copies the master's listening handle into every worker, which must close it (or it
//     would answer too). libuv unlinks a listening unix socket's path when its handle is closed, so
//     a worker closing a socket bound at PATH would remove the master's. Bound in a private
//     directory and renamed at once, the name libuv remembers is gone: nothing to remove.
//   - The private directory (mode 0700) keeps it unreachable until it is chmod 0600, and rename(2)
//     puts it at PATH in one step (publish): a client never finds PATH missing, even when a new
//     master (a USR2 upgrade) takes PATH over from the old one, which it does only once its workers
//     accept. The newest master owns PATH; at exit a master removes PATH only if it is still its own
//     socket.
//
// See: man 7 unix, man 2 rename

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { warn } from '../server/log';
import { unixSocketLive } from './listeners';
import type { StatusSnapshot } from './status-snapshot';

/** A --status-socket or --status-page problem at start-up: one line, exit 1. */
export class StatusListenError extends Error {
  readonly code = 'ERR_FORKSERVE_STATUS';
}

/** A status listener of the master (the socket or the page). */
export interface StatusListener {
  /** The master's start-up line about it ("Status socket: /run/app.status"). */
  readonly line: string;
  /** Makes it reachable where the user said (a new master's socket: once it takes over). */
  publish(): void;
  /** In a forked worker: let go of the master's listener and connections (the path stays). */
  closeInWorker(): void;
  /** In the master, at its exit: stop listening and remove what it made. */
  close(): void;
}

function listening(server: net.Server, listen: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    listen();
  });
}

/** Opens the control socket at `socketPath`; each connection gets `snapshot()` as JSON. */
export async function listenStatusSocket(socketPath: string, snapshot: () => StatusSnapshot, { takeOver = false } = {}): Promise<StatusListener> {
  const target = path.resolve(socketPath);
  // A system error as Node words it, naming the file or directory it is about.
  const failed = (err: unknown, about = target): StatusListenError => {
    const e = err as NodeJS.ErrnoException;
    return new StatusListenError(`--status-socket ${socketPath}: ${e.code && e.syscall ? `${e.syscall} ${e.code} ${about}` : e.message}`);
  };
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failed(err);
  }
  // A socket there is replaced when no server answers on it (a killed master's) or when this master
  // takes over from the old one (an upgrade); a live one is another server's, and anything else is
  // someone's file.
  if (existing && !existing.isSocket()) throw new StatusListenError(`--status-socket ${socketPath}: exists and is not a socket`);
  if (existing && !takeOver && unixSocketLive(target)) {
    throw new StatusListenError(`--status-socket ${socketPath}: a server is listening on it (another forkserve master?); give this one its own path`);
  }

  const connections = new Set<net.Socket>();
  const server = net.createServer((conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', () => {}); // a client that leaves early
    let json: string;
    try {
      json = JSON.stringify(snapshot());
    } catch (err) {
      warn(`--status-socket: ${(err as Error)?.stack ?? String(err)}`);
      conn.destroy();
      return;
    }
    conn.end(`${json}\n`);
  });
  let dir: string;
  try {
    dir = fs.mkdtempSync(path.join(path.dirname(target), '.status-'));
  } catch (err) {
    throw failed(err, path.dirname(target));
  }
  const staged = path.join(dir, 's');
  try {
    const bound = path.join(dir, 'b');
    await listening(server, () => server.listen(bound));
    fs.chmodSync(bound, 0o600);
    fs.renameSync(bound, staged);
  } catch (err) {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw failed(err);
  }
  server.on('error', (err) => warn(`--status-socket ${socketPath}: ${err.message}`));

  let published: fs.Stats | undefined;
  return {
    line: `Status socket: ${socketPath}`,
    publish() {
      if (published) return;
      try {
        fs.renameSync(staged, target);
        published = fs.statSync(target);
      } catch (err) {
        warn(`--status-socket ${socketPath}: ${(err as Error).message}`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
    closeInWorker() {
      for (const conn of connections) conn.destroy();
      server.close(); // closes this process's copy of the descriptor; libuv's name for it is long gone
    },
    close() {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
      if (!published) return;
      try {
        const now = fs.lstatSync(target);
        if (now.ino === published.ino && now.dev === published.dev) fs.unlinkSync(target);
      } catch {
        /* already gone */
      }
    },
  };
}
