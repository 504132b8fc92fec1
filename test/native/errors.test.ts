// The native surface without forking: errors are Node-shaped and carry the failing syscall.
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import * as posix from '../../src/posix';

function thrown(fn: () => unknown): posix.PosixError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(posix.PosixError);
    return err as posix.PosixError;
  }
  throw new Error('expected a PosixError');
}

describe('PosixError', () => {
  it('close(-1) fails with EBADF from close', () => {
    const err = thrown(() => posix.close(-1));
    expect(err.code).toBe('EBADF');
    expect(err.errno).toBe(-os.constants.errno.EBADF);
    expect(err.syscall).toBe('close');
    expect(err).toBeInstanceOf(Error);
  });

  it('bind to a port in use fails with EADDRINUSE and names the address', () => {
    const a = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    const b = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    try {
      posix.bind(a, '127.0.0.1', 0);
      posix.listen(a, 1);
      const { port } = posix.getsockname(a);
      const err = thrown(() => posix.bind(b, '127.0.0.1', port));
      expect(err.code).toBe('EADDRINUSE');
      expect(err.syscall).toBe('bind');
      expect(err.address).toBe('127.0.0.1');
      expect(err.port).toBe(port);
    } finally {
      posix.close(a);
      posix.close(b);
    }
  });

  it('connect to a closed port fails with ECONNREFUSED', () => {
    const a = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    posix.bind(a, '127.0.0.1', 0);
    const { port } = posix.getsockname(a);
    posix.close(a); // bound, never listening: nothing accepts on this port
    const c = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    try {
      const err = thrown(() => posix.connect(c, '127.0.0.1', port));
      expect(err.code).toBe('ECONNREFUSED');
      expect(err.syscall).toBe('connect');
      expect(err.port).toBe(port);
    } finally {
      posix.close(c);
    }
  });

  it('a non-blocking accept with nothing queued fails with EAGAIN, an ordinary outcome', () => {
    const l = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    try {
      posix.bind(l, '127.0.0.1', 0);
      posix.listen(l, 1);
      posix.setNonBlocking(l, true);
      const err = thrown(() => posix.accept(l));
      expect(err.code).toBe('EAGAIN');
      expect(err.syscall).toBe('accept');
    } finally {
      posix.close(l);
    }
  });

  it('a malformed address is rejected before the call', () => {
    const s = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    try {
      expect(thrown(() => posix.bind(s, '999.1.1.1', 80)).code).toBe('EINVAL');
      expect(() => posix.bind(s, '127.0.0.1', 70000)).toThrow(RangeError);
    } finally {
      posix.close(s);
    }
  });

  it('wrong argument types are TypeErrors, not crashes', () => {
    expect(() => (posix.close as unknown as (x: string) => void)('3')).toThrow(TypeError);
    expect(() => posix.read(0, 'x' as unknown as Buffer)).toThrow(TypeError);
    expect(() => posix.read(0, Buffer.alloc(4), 2, 8)).toThrow(RangeError);
  });
});

describe('sockets, pipes and limits', () => {
  it('a connection over loopback carries bytes both ways', () => {
    const l = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    posix.setsockopt(l, posix.SOL_SOCKET, posix.SO_REUSEADDR, 1);
    expect(posix.getsockopt(l, posix.SOL_SOCKET, posix.SO_REUSEADDR)).not.toBe(0);
    posix.bind(l, '127.0.0.1', 0);
    posix.listen(l, 5);
    const { port } = posix.getsockname(l);
    const c = posix.socket(posix.AF_INET, posix.SOCK_STREAM, 0);
    posix.connect(c, '127.0.0.1', port);
    const s = posix.accept(l);
    try {
      expect(s.address).toBe('127.0.0.1');
      expect(s.port).toBe(posix.getsockname(c).port);
      expect(posix.getpeername(c).port).toBe(port);
      posix.sendall(c, Buffer.from('ping'));
      const buf = Buffer.alloc(16);
      expect(posix.poll([{ fd: s.fd, events: posix.POLLIN }], 1000)[0] & posix.POLLIN).toBeTruthy();
      const n = posix.recv(s.fd, buf);
      expect(buf.toString('latin1', 0, n)).toBe('ping');
      posix.shutdown(s.fd, posix.SHUT_WR);
      expect(posix.recv(c, buf)).toBe(0); // EOF after the peer's shutdown
    } finally {
      posix.close(s.fd);
      posix.close(c);
      posix.close(l);
    }
  });

  it('pipe() + write() + read()', () => {
    const [r, w] = posix.pipe();
    try {
      expect(posix.write(w, Buffer.from('abc'))).toBe(3);
      const buf = Buffer.alloc(8);
      expect(posix.read(r, buf, 0, 8)).toBe(3);
    } finally {
      posix.close(r);
      posix.close(w);
    }
  });

  it('getrlimit/setrlimit NOFILE round-trips', () => {
    const before = posix.getrlimit('NOFILE');
    expect(before.soft).toBeGreaterThan(0);
    const lower = Math.min(before.soft, 4096) - 1;
    posix.setrlimit('NOFILE', { soft: lower, hard: before.hard });
    try {
      expect(posix.getrlimit('NOFILE').soft).toBe(lower);
    } finally {
      posix.setrlimit('NOFILE', before);
    }
    expect(posix.getrlimit('NPROC').hard).toBeGreaterThan(0);
  });

  it('getpid/getppid match Node', () => {
    expect(posix.getpid()).toBe(process.pid);
    expect(posix.getppid()).toBe(process.ppid);
  });
});
