// The listening socket of every stage: socket + SO_REUSEADDR + bind + listen, as in the tutorial.

import {
  AF_INET, AF_INET6, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, bind, close, getsockname, listen, setCloseOnExec, setsockopt, socket,
} from '../posix';
import { say } from './log';

export interface Listener {
  fd: number;
  address: string;
  port: number;
}

export interface ListenOptions {
  /** Numeric address; '' or '0.0.0.0' means all IPv4 interfaces. */
  host: string;
  /** 0 lets the kernel pick a free port. */
  port: number;
  backlog: number;
}

/** Opens a listening TCP socket; the caller owns the returned fd. */
export function createListener({ host, port, backlog }: ListenOptions): Listener {
  const fd = socket(host.includes(':') ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  try {
    // Forked children inherit it; programs an app runs (exec) do not, so none keeps the port bound.
    setCloseOnExec(fd, true);
    // Lets a restarted server bind while old connections sit in TIME_WAIT.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, host, port);
    listen(fd, backlog);
    const name = getsockname(fd);
    return { fd, address: name.address, port: name.port };
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** The start-up line every server prints first; tests and users read the port from it. */
export function servingLine(port: number): string {
  return `Serving HTTP on port ${port} ...`;
}

/** createListener(), then the serving line on stdout. */
export function listenAndAnnounce(options: ListenOptions): Listener {
  const listener = createListener(options);
  say(servingLine(listener.port));
  return listener;
}
