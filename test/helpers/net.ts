// Small loopback clients for the stage tests.
import * as net from 'node:net';

export interface Exchange {
  /** Milliseconds from connect() to the first byte of the reply (null if none came). */
  firstByteMs: number | null;
  /** Milliseconds from connect() to EOF (null if the socket never ended before the timeout). */
  endMs: number | null;
  data: Buffer;
}

/** Connects, sends `request`, records when the first byte and EOF arrive; gives up after timeoutMs. */
export function exchange(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    let firstByteMs: number | null = null;
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    const done = (endMs: number | null): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ firstByteMs, endMs, data: Buffer.concat(chunks) });
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    s.on('data', (d) => {
      if (firstByteMs === null) firstByteMs = Date.now() - t0;
      chunks.push(d);
    });
    s.on('end', () => done(Date.now() - t0));
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Opens `n` connections at once; resolves after `waitMs` with how many completed the handshake. */
export async function connectMany(port: number, n: number, waitMs: number): Promise<{ connected: number; sockets: net.Socket[] }> {
  let connected = 0;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1', () => connected++);
    s.on('error', () => {});
    sockets.push(s);
  }
  await new Promise((r) => setTimeout(r, waitMs));
  return { connected, sockets };
}

/** A port free right now on 127.0.0.1, for a server that cannot be told to pick one (nginx, redis-server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
