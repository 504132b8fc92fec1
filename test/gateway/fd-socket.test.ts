// FdSocket's write pieces (src/gateway/fd-socket.ts joinSmall): small pieces go out joined, as
// one send; large ones are sent from the caller's buffer, never copied. In-process, pure.
import { describe, expect, it } from 'vitest';
import { joinSmall } from '../../src/gateway/fd-socket';

describe('joinSmall', () => {
  it('a response head and a small body become one piece; a large body is the same Buffer, not a copy', () => {
    const head = Buffer.from('HTTP/1.1 200 OK\r\n\r\n');
    const small = Buffer.from('hello');
    expect(joinSmall([head, small])).toEqual([Buffer.from('HTTP/1.1 200 OK\r\n\r\nhello')]);
    const big = Buffer.alloc(8 * 1024 * 1024);
    const pieces = joinSmall([head, big, small, small]);
    expect(pieces).toHaveLength(3);
    expect(pieces[0]).toEqual(head);
    expect(pieces[1]).toBe(big);
    expect(pieces[2]).toEqual(Buffer.from('hellohello'));
  });

  it('one piece is passed as it is; order and bytes are kept', () => {
    const one = [Buffer.alloc(10)];
    expect(joinSmall(one)).toBe(one);
    const chunks = [Buffer.alloc(20_000, 1), Buffer.alloc(3, 2), Buffer.alloc(17_000, 3), Buffer.alloc(5, 4), Buffer.alloc(6, 5)];
    expect(Buffer.concat(joinSmall(chunks))).toEqual(Buffer.concat(chunks));
  });
});
