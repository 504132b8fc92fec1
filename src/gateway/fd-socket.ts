// A stream.Duplex over a connected socket descriptor we accepted ourselves: the `socket` that
// http.IncomingMessage/ServerResponse (and the frameworks on top) talk to. Reading and writing are
// recv()/send() on the non-blocking fd, woken by uv_poll; it looks enough like a net.Socket for
// Express, Koa and Fastify (remoteAddress/remotePort, setTimeout, setNoDelay, destroySoon ...).
//
// Backpressure both ways comes from the Duplex machinery: recv() only runs while the readable side
// wants data (_read), and write() returns false while send() cannot keep up.

import { Duplex } from 'node:stream';
import {
  FdWatcher, IPPROTO_TCP, SHUT_WR, TCP_NODELAY, UV_READABLE, UV_WRITABLE, close, getsockname, isErrno, recv, send,
  setNonBlocking, setsockopt, shutdown, type SocketAddress,
} from '../posix';

const READ_SIZE = 64 * 1024;
/**
 * Pieces of a write smaller than this are joined into one send() (a response head and a small body
 * go out in one packet, as node:http's writev sends them); larger ones are sent from the caller's
 * own buffer, never copied: a client that does not read holds the kernel's socket buffers and a
 * reference, not a private copy of the response (an 8 MB response to 500 such clients was +4.1 GB).
 */
const JOIN_BELOW_BYTES = 16 * 1024;
/**
 * How long a write may wait for a client that takes no bytes at all before the connection is cut
 * (nginx's send_timeout, 60 s, counted the same way: between two successive sends that progress).
 */
export const SEND_TIMEOUT_MS = 60_000;
/** After our side has finished, how long to keep reading (and dropping) what the client still sends before closing. */
export const LINGER_MS = 500;

/** Errors that mean the client went away; they end the stream quietly. */
const PEER_GONE = ['EPIPE', 'ECONNRESET', 'ETIMEDOUT', 'ENOTCONN'];

export interface FdSocketOptions {
  /** The peer, as accept() returned it. */
  peer: SocketAddress;
  /** Sees every byte written, in order (the gateway's `> ` trace). */
  tap?: (chunk: Buffer) => void;
  /** Cut the connection when a write makes no progress for this long (default SEND_TIMEOUT_MS). */
  sendTimeoutMs?: number;
}

export class FdSocket extends Duplex {
  /**
   * The peer's address (undefined on a unix socket, as in net.Socket). Behind a trusted proxy the
   * gateway sets the client's address here for each request (gateway/forwarded.ts).
   */
  remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  remoteFamily: string | undefined;
  /** True when the client's connection was TLS: set from a trusted proxy's X-Forwarded-Proto. */
  encrypted = false;
  readonly localAddress: string;
  readonly localPort: number;
  readonly connecting = false;
  readonly pending = false;
  bytesRead = 0;
  bytesWritten = 0;
  /** Set by ServerResponse.assignSocket(); the response currently writing. */
  _httpMessage: unknown = null;

  private readonly watcher: FdWatcher;
  /** A unix socket has no Nagle to turn off: setNoDelay() does nothing there, as on a net.Socket over a pipe. */
  private readonly unix: boolean;
  private readonly tap?: (chunk: Buffer) => void;
  private wantRead = false;
  private readBuffer: Buffer | null = null;
  /** The write in progress: its pieces, the one being sent and how far. */
  private outgoing: { pieces: Buffer[]; index: number; offset: number; callback: (err?: Error | null) => void } | null = null;
  private readonly sendTimeoutMs: number;
  private sendTimer: NodeJS.Timeout | undefined;
  /** The first bytes written, once noteFirstWrite() asked for them (a taken-over connection's status line). */
  private firstBytes: Buffer | null | undefined;
  private watching = 0;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(readonly fd: number, options: FdSocketOptions) {
    super({ allowHalfOpen: true, decodeStrings: true });
    const { peer } = options;
    const unix = peer.family === 'Unix';
    this.unix = unix;
    this.remoteAddress = unix ? undefined : peer.address;
    this.remotePort = unix ? undefined : peer.port;
    this.remoteFamily = unix ? undefined : peer.address.includes(':') ? 'IPv6' : 'IPv4';
    const local = getsockname(fd);
    this.localAddress = local.address;
    this.localPort = local.port;
    this.tap = options.tap;
    this.sendTimeoutMs = options.sendTimeoutMs ?? SEND_TIMEOUT_MS;
    setNonBlocking(fd, true);
    this.watcher = new FdWatcher(fd, (status, events) => this.onPoll(status, events));
  }

  /** Like net.Socket: the fd is closed once the stream is destroyed. */
  get readyState(): string {
    if (this.destroyed) return 'closed';
    if (this.readable && this.writable) return 'open';
    return this.readable ? 'readOnly' : this.writable ? 'writeOnly' : 'closed';
  }

  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: this.localAddress.includes(':') ? 'IPv6' : 'IPv4', port: this.localPort };
  }

  setNoDelay(noDelay = true): this {
    if (this.destroyed || this.unix) return this;
    try {
      setsockopt(this.fd, IPPROTO_TCP, TCP_NODELAY, noDelay ? 1 : 0);
    } catch (err) {
      // net.Socket ignores it too: a connection the peer has already reset (EINVAL on macOS).
      if (!isErrno(err, 'EINVAL', ...PEER_GONE)) throw err;
    }
    return this;
  }

  /** TCP keep-alive probes are the kernel's business; accepted for compatibility, like a no-op. */
  setKeepAlive(): this {
    return this;
  }

  /** Emits 'timeout' after `ms` without reading or writing (0 turns it off), as net.Socket does. */
  setTimeout(ms: number, callback?: () => void): this {
    this.idleMs = ms;
    if (callback) this.once('timeout', callback);
    this.touch();
    return this;
  }

  ref(): this {
    this.watcher.ref();
    return this;
  }

  unref(): this {
    this.watcher.unref();
    return this;
  }

  /** Finish writing, then close (net.Socket's destroySoon); see _final for the lingering close. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /**
   * Ends our side, then keeps reading and dropping input for up to LINGER_MS until the client
   * closes: closing a socket with unread input sends a reset, which can destroy the response
   * before the client has read it.
   */
  endAndLinger(data?: Buffer): void {
    if (this.destroyed) return;
    this.removeAllListeners('data');
    this.on('data', () => {});
    this.on('end', () => this.destroy());
    const linger = (): void => {
      this.lingerTimer = setTimeout(() => this.destroy(), LINGER_MS);
    };
    if (this.writableFinished) linger();
    else {
      this.once('finish', linger);
      this.end(data);
    }
    this.resume();
  }

  override _read(): void {
    this.wantRead = true;
    this.updateWatch();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.sendOrQueue([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.sendOrQueue(joinSmall(chunks.map((c) => c.chunk)), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    try {
      shutdown(this.fd, SHUT_WR);
    } catch (err) {
      if (!isErrno(err, ...PEER_GONE)) return callback(err as Error);
    }
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.lingerTimer);
    clearTimeout(this.sendTimer);
    this.watcher.close();
    try {
      close(this.fd);
    } catch {
      /* already closed */
    }
    const pending = this.outgoing;
    this.outgoing = null;
    // A write still waiting for the socket will never complete.
    pending?.callback(err ?? Object.assign(new Error('socket closed'), { code: 'ERR_STREAM_DESTROYED' }));
    callback(err && isErrno(err, ...PEER_GONE) ? null : err);
  }

  /** From now on, keep the start of the next write (firstStatus reads its status line). */
  noteFirstWrite(): void {
    this.firstBytes = null;
  }

  /** The status of the first response written since noteFirstWrite() ("HTTP/1.1 101 ..."), else 0. */
  firstStatus(): number {
    const m = this.firstBytes ? /^HTTP\/1\.[01] (\d{3})/.exec(this.firstBytes.toString('latin1')) : null;
    return m ? Number(m[1]) : 0;
  }

  private sendOrQueue(pieces: Buffer[], callback: (err?: Error | null) => void): void {
    if (this.tap) for (const piece of pieces) this.tap(piece);
    if (this.firstBytes === null && pieces.length > 0) this.firstBytes = Buffer.from(pieces[0].subarray(0, 16));
    this.outgoing = { pieces, index: 0, offset: 0, callback };
    this.flush();
  }

  /**
   * Sends as much of the pending write as the socket takes; waits for POLLOUT for the rest, at most
   * sendTimeoutMs without progress.
   */
  private flush(): void {
    const out = this.outgoing;
    if (!out) return;
    let progressed = false;
    while (out.index < out.pieces.length) {
      const piece = out.pieces[out.index];
      if (out.offset >= piece.length) {
        out.index++;
        out.offset = 0;
        continue;
      }
      let n: number;
      try {
        n = send(this.fd, piece, out.offset, piece.length - out.offset);
      } catch (err) {
        if (isErrno(err, 'EINTR')) continue;
        if (isErrno(err, 'EAGAIN', 'EWOULDBLOCK')) {
          this.updateWatch();
          this.waitForSend(progressed);
          return;
        }
        this.outgoing = null;
        this.stopSendTimer();
        this.updateWatch();
        out.callback(err as Error);
        return;
      }
      out.offset += n;
      this.bytesWritten += n;
      progressed = true;
    }
    this.outgoing = null;
    this.stopSendTimer();
    this.updateWatch();
    this.touch();
    out.callback();
  }

  /** The socket is full: the deadline starts (or restarts, if bytes went out since) now. */
  private waitForSend(progressed: boolean): void {
    if (this.sendTimeoutMs <= 0) return;
    if (this.sendTimer && progressed) this.sendTimer.refresh();
    else this.sendTimer ??= setTimeout(() => {
      this.sendTimer = undefined;
      this.destroy(Object.assign(new Error(`send: the client took no bytes for ${this.sendTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
    }, this.sendTimeoutMs);
  }

  private stopSendTimer(): void {
    clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
  }

  private onPoll(status: number, events: number): void {
    if (this.destroyed) return;
    if (status < 0) {
      // The socket is in an error state (a reset): let recv()/send() report which.
      events = UV_READABLE | UV_WRITABLE;
    }
    if (events & UV_WRITABLE && this.outgoing) this.flush();
    if (events & UV_READABLE && this.wantRead) this.receive();
  }

  private receive(): void {
    // One recv() per wake-up: uv_poll is level-triggered, so it wakes us again while data remains.
    // A small read is copied out and the buffer kept for the next; a large one is handed over.
    const buf = (this.readBuffer ??= Buffer.allocUnsafe(READ_SIZE));
    let n: number;
    try {
      n = recv(this.fd, buf);
    } catch (err) {
      if (isErrno(err, 'EAGAIN', 'EWOULDBLOCK', 'EINTR')) return;
      this.destroy(err as Error);
      return;
    }
    this.touch();
    if (n === 0) {
      this.wantRead = false;
      this.updateWatch();
      this.push(null);
      return;
    }
    this.bytesRead += n;
    let chunk: Buffer;
    if (n < READ_SIZE / 2) chunk = Buffer.from(buf.subarray(0, n));
    else {
      chunk = buf.subarray(0, n);
      this.readBuffer = null;
    }
    if (!this.push(chunk)) {
      this.wantRead = false;
      this.updateWatch();
    }
  }

  private updateWatch(): void {
    if (this.destroyed) return;
    const events = (this.wantRead ? UV_READABLE : 0) | (this.outgoing ? UV_WRITABLE : 0);
    if (events === this.watching) return;
    this.watching = events;
    if (events === 0) this.watcher.stop();
    else this.watcher.start(events);
  }

  private touch(): void {
    if (this.idleMs <= 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      return;
    }
    if (this.idleTimer) this.idleTimer.refresh();
    else this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.emit('timeout');
    }, this.idleMs);
  }
}

/** The pieces of a write, with runs of small ones joined (JOIN_BELOW_BYTES); large ones as they are. */
export function joinSmall(chunks: Buffer[]): Buffer[] {
  if (chunks.length === 1) return chunks;
  const out: Buffer[] = [];
  let run: Buffer[] = [];
  const endRun = (): void => {
    if (run.length > 0) out.push(run.length === 1 ? run[0] : Buffer.concat(run));
    run = [];
  };
  for (const c of chunks) {
    if (c.length < JOIN_BELOW_BYTES) run.push(c);
    else {
      endRun();
      out.push(c);
    }
  }
  endRun();
  return out;
}
