// What every tutorial stage does with one connection: one read of at most 1024 bytes, print the
// request, send the canned 31-byte response, close. (The request's content is ignored.)

import { isErrno, recv, sendall } from '../posix';
import { sayRaw, warn } from './log';

/** Ruslan's response: bare LF, no headers, the body ends when the connection closes. */
export const CANNED_RESPONSE = Buffer.from('HTTP/1.1 200 OK\n\nHello, World!\n', 'latin1');

export const REQUEST_READ_SIZE = 1024;

/**
 * Reads one request (one recv of at most 1024 bytes), prints it and sends the canned response.
 * Returns false if the client went away first. Does not close fd.
 */
export function answerCanned(fd: number, { quiet = false } = {}): boolean {
  const buf = Buffer.allocUnsafe(REQUEST_READ_SIZE);
  let n: number;
  for (;;) {
    try {
      n = recv(fd, buf, 0, buf.length);
      break;
    } catch (err) {
      if (isErrno(err, 'EINTR')) continue;
      if (isErrno(err, 'ECONNRESET', 'ETIMEDOUT')) return false;
      throw err;
    }
  }
  // print(request.decode()) in the original; invalid UTF-8 prints as U+FFFD here instead of crashing.
  if (!quiet) sayRaw(`${buf.toString('utf8', 0, n)}\n`);
  try {
    sendall(fd, CANNED_RESPONSE);
  } catch (err) {
    if (isErrno(err, 'EPIPE', 'ECONNRESET')) {
      warn(`client went away before the response was sent (${(err as Error).message})`);
      return false;
    }
    throw err;
  }
  return true;
}
