// The client side of stage 1: socket + connect (the kernel picks an ephemeral local port, shown with
// getsockname), send some bytes, one read of the answer, print it.

import { parseCommand, parsePort, resolveAddress, runMain } from '../cli';
import { AF_INET, AF_INET6, SOCK_STREAM, close, connect, getpeername, getsockname, recv, sendall, socket } from '../posix';
import { say, sayRaw } from '../server/log';

runMain(async () => {
  const { values } = parseCommand({
    summary: 'Stage 1 client: connects to the server, sends --data, reads once (up to 1024 bytes) and prints the reply.',
    options: {
      host: { type: 'string', default: 'localhost' },
      port: { type: 'string', default: '8888' },
      data: { type: 'string', default: 'test' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    help: {
      host: 'server host name or address (default: localhost)',
      port: 'server port (default: 8888)',
      data: "bytes to send; \\n and \\r escapes are understood (default: 'test')",
      help: 'show this help and exit',
    },
  });
  const host = values.host as string;
  const port = parsePort(values.port as string);
  const address = await resolveAddress(host);
  const fd = socket(address.includes(':') ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  try {
    connect(fd, address, port);
    const local = getsockname(fd);
    const peer = getpeername(fd);
    say(`Connected from ${local.address}:${local.port} to ${peer.address}:${peer.port}`);
    sendall(fd, Buffer.from((values.data as string).replace(/\\n/g, '\n').replace(/\\r/g, '\r'), 'utf8'));
    const buf = Buffer.alloc(1024);
    const n = recv(fd, buf, 0, buf.length);
    sayRaw(buf.toString('utf8', 0, n));
  } finally {
    close(fd);
  }
});
