// The command-line contract of every entry: --help, usage errors, and client2's failure summary.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, killAll, lastJson, run, startServer } from '../helpers/procs';

afterEach(killAll);

const ENTRIES = fs.readdirSync(path.join(DIST, 'bin')).filter((f) => f.endsWith('.js'));
const node = (entry: string, ...args: string[]) => run(process.execPath, [path.join(DIST, entry), ...args], 15_000);

describe('every entry', () => {
  it('has a dist/<entry>.js shim for each src/bin file', () => {
    const sources = fs.readdirSync(path.join(DIST, '..', 'src', 'bin')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '.js'));
    expect(ENTRIES.sort()).toEqual(sources.sort());
    for (const e of ENTRIES) expect(fs.existsSync(path.join(DIST, e)), e).toBe(true);
  });

  it.each(ENTRIES)('%s --help prints usage and exits 0', async (entry) => {
    const r = await node(entry, '--help');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: node .*${entry.replace('.', '\\.')}`));
    expect(r.stdout).toContain('--help');
  });

  it.each(ENTRIES)('%s rejects an unknown flag with exit 2 and no stack trace', async (entry) => {
    const r = await node(entry, '--no-such-flag');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--no-such-flag'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // The error and the usage line, not the whole help (--help has that).
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(2);
    expect(r.stderr).toMatch(/\nUsage: node .* \(--help for more\)\n$/);
  });

  it.each(ENTRIES)('%s --help lines its option descriptions up in one column', async (entry) => {
    const lines = (await node(entry, '--help')).stdout.split('\n').filter((l) => /^ {2}(-\w, | {4})--/.test(l));
    const columns = new Set(lines.map((l) => /^( {2}(?:-\w, | {4})--\S+(?: <\w+>)? +)\S/.exec(l)![1].length));
    expect([...columns], lines.join('\n')).toHaveLength(1);
  });

  it('the burst suggested by --help makes one connection per client, not client2\'s default 1024', async () => {
    for (const entry of ['concurrent2.js', 'concurrent3.js', 'concurrent-final.js']) {
      const help = (await node(entry, '--help')).stdout;
      for (const m of help.matchAll(/client2\.js [^)\n]*/g)) expect(m[0], entry).toContain('--max-conns 1');
    }
  });
});

describe('usage errors', () => {
  it('ps.js needs one existing pid', async () => {
    const none = await node('ps.js');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("expected one argument: the server's pid");
    const missing = await node('ps.js', '999999999');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no process 999999999');
  });

  it('numbers are checked: --sleep, --max-clients, --backlog', async () => {
    expect((await node('sleep.js', '--sleep', 'soon')).stderr).toContain("invalid --sleep 'soon'");
    expect((await node('client2.js', '--max-clients', '0')).stderr).toContain("invalid --max-clients '0'");
    expect((await node('concurrent-final.js', '--backlog', '1.5')).stderr).toContain("invalid --backlog '1.5'");
  });

  it('a negative port is a bad port (one line, exit 2), not node:util\'s "argument is ambiguous"', async () => {
    const r = await node('concurrent-final.js', '--port', '-1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^node .*concurrent-final\.js: invalid port '-1' \(expected 0\.\.65535\)\n$/);
  });

  it('a client whose host does not resolve says so in one line, exit 1', async () => {
    const r = await node('client1.js', '--host', 'nosuchhost.invalid', '--port', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^node .*client1\.js: getaddrinfo (ENOTFOUND|EAI_AGAIN) nosuchhost\.invalid\n$/);
  });

  it('a host name a server cannot bind is refused with a one-line message', async () => {
    const r = await node('iterative.js', '--host', 'example.invalid');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("invalid --host 'example.invalid'");
  });
});

describe('client2 failures', () => {
  it('counts refused connections by errno and exits 1', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p)); // nothing listens there any more
      });
    });
    const r = await node('client2.js', '--port', String(port), '--host', '127.0.0.1', '--max-clients', '2', '--max-conns', '3');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('connect/send ECONNREFUSED: 6');
    expect(lastJson(r.stdout)).toMatchObject({ clients: 2, conns: 3, made: 0, failed: 6, failures: { ECONNREFUSED: 6 } });
  });
});

describe('$PORT', () => {
  it('is the default port when set (as platforms and gunicorn use it); --port still wins', async () => {
    const fromEnv = await startServer('webserver1.js', [], { env: { ...process.env, PORT: '0' } });
    expect(fromEnv.port).toBeGreaterThan(0); // 0 picked a free port: not 8888
    fromEnv.kill();
    const r = await node('webserver1.js', '--help');
    expect(r.stdout).toContain('(default: $PORT, else 8888)');
  });
});
