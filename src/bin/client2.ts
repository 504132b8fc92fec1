// client2 (part3/client3.py): forks --max-clients client processes; each opens --max-conns
// connections, sends the tutorial's LF-only request on each and keeps them open until it has made
// them all (really M per client: the original left after one). Drives the zombie and EMFILE
// experiments. Prints a summary: connections made, failures by errno.

import { parseCommand, parseNumber, parsePort, resolveAddress, runMain } from '../cli';
import {
  AF_INET, AF_INET6, SOCK_STREAM, _exit, close, connect, fork, isErrno, pipe, read, sendall, socket, waitpid, write,
} from '../posix';
import { sleepMs } from '../server/child';
import { say } from '../server/log';

interface Report {
  made: number;
  failures: Record<string, number>;
}

function client(address: string, port: number, conns: number, request: Buffer): Report {
  const report: Report = { made: 0, failures: {} };
  const socks: number[] = [];
  for (let i = 0; i < conns; i++) {
    let fd = -1;
    try {
      fd = socket(address.includes(':') ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
      socks.push(fd);
      connect(fd, address, port);
      sendall(fd, request);
      report.made++;
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ERROR';
      report.failures[code] = (report.failures[code] ?? 0) + 1;
    }
  }
  return Object.assign(report, { socks });
}

runMain(async () => {
  const { values } = parseCommand({
    summary: 'client2: fork --max-clients processes, each opening --max-conns connections and sending a request.',
    options: {
      host: { type: 'string', default: 'localhost' },
      port: { type: 'string', default: '8888' },
      'max-clients': { type: 'string', default: '1' },
      'max-conns': { type: 'string', default: '1024' },
      hold: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    help: {
      host: 'server host (default: localhost)',
      port: 'server port (default: 8888)',
      'max-clients': 'client processes to fork (default: 1)',
      'max-conns': 'connections per client (default: 1024)',
      hold: 'seconds each client keeps its connections open after making them all (default: 0)',
      help: 'show this help and exit',
    },
  });
  const host = values.host as string;
  const port = parsePort(values.port as string);
  const clients = parseNumber('max-clients', values['max-clients'] as string, { integer: true, min: 1 });
  const conns = parseNumber('max-conns', values['max-conns'] as string, { integer: true, min: 1 });
  const holdMs = parseNumber('hold', values.hold as string) * 1000;
  const address = await resolveAddress(host);
  const request = Buffer.from(`GET /hello HTTP/1.1\nHost: ${host}:${port}\n\n`, 'latin1');

  const [r, w] = pipe();
  let forked = 0;
  const forkFailures: Record<string, number> = {};
  for (let i = 0; i < clients; i++) {
    let pid: number;
    try {
      pid = fork();
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ERROR';
      forkFailures[code] = (forkFailures[code] ?? 0) + 1;
      continue;
    }
    if (pid === 0) {
      close(r);
      const report = client(address, port, conns, request);
      write(w, Buffer.from(`${JSON.stringify({ made: report.made, failures: report.failures })}\n`));
      sleepMs(holdMs);
      _exit(0);
    }
    forked++;
  }
  close(w);
  // Each report is one short line, written atomically; read them all until every writer is gone.
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = read(r, buf);
    } catch (err) {
      if (isErrno(err, 'EINTR')) continue;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  close(r);
  for (let reaped = 0; reaped < forked; reaped++) waitpid(-1, 0);

  const total: Report = { made: 0, failures: {} };
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (!line) continue;
    const rep = JSON.parse(line) as Report;
    total.made += rep.made;
    for (const [code, n] of Object.entries(rep.failures)) total.failures[code] = (total.failures[code] ?? 0) + n;
  }
  const failed = Object.values(total.failures).reduce((a, b) => a + b, 0);
  say(`client2: ${forked} clients x ${conns} connections to ${address}:${port}: ${total.made} made, ${failed} failed`);
  for (const [code, n] of Object.entries(total.failures)) say(`  connect/send ${code}: ${n}`);
  for (const [code, n] of Object.entries(forkFailures)) say(`  fork ${code}: ${n}`);
  say(JSON.stringify({ clients: forked, conns, made: total.made, failed, failures: total.failures, forkFailures }));
  process.exitCode = failed === 0 && forked === clients ? 0 : 1;
});
