// forkserve behind a real nginx (Debian's package), the way it is deployed: nginx listens on
// loopback TCP and proxies to forkserve's unix socket; nginx's worker processes run as another user
// (nobody) in the socket's group, as its default mode 0660 asks. The app must see the client's
// address (curl binds 127.0.0.3, not the proxy's) and, where the proxy says so, the https scheme.
// The test starts and stops nginx itself, in the foreground, with every path in a temporary directory.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net';
import { FIXTURES, ROOT, killAll, run, startServer, until } from '../helpers/procs';

const CLIENT = path.join(FIXTURES, 'deploy', 'client.js');
const NGINX = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

let nginx: ChildProcess | undefined;
afterEach(() => {
  // nginx's master and its workers: the process group it was started in.
  if (nginx?.pid !== undefined && nginx.exitCode === null) process.kill(-nginx.pid, 'SIGKILL');
  nginx = undefined;
  killAll();
});


/** The group forkserve runs in, which owns its socket (mode 0660): nginx's workers are put in it, as a deployment would. */
const SOCKET_GROUP = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();

function nginxConfig(dir: string, port: number, socket: string): string {
  return `
user nobody ${SOCKET_GROUP};
worker_processes 2;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app { server unix:${socket}; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
    # What a TLS-terminating server block sends (this test has no certificate).
    location /tls/ {
      proxy_pass http://app/;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
    }
  }
}
`;
}

async function startNginx(dir: string, socket: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, socket));
    let err = '';
    const proc = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    nginx = proc;
    const up = await until(
      () => new Promise<boolean>((resolve) => {
        if (proc.exitCode !== null) return resolve(true);
        const c = net.connect(port, '127.0.0.1', () => {
          c.destroy();
          resolve(true);
        });
        c.on('error', () => resolve(false));
      }),
      (ok) => ok,
      'nginx to listen',
      20_000,
    );
    if (up && proc.exitCode === null) return port;
    // Another process took the port between freePort() and nginx's bind: try another.
    if (attempt >= 3 || !/Address already in use/.test(err)) throw new Error(`nginx did not start: ${err}${readIf(path.join(dir, 'error.log'))}`);
  }
}

function readIf(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

describe('behind nginx over a unix socket', () => {
  it("the app sees the client's address and scheme; ab through nginx has 0 failures", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-nginx-'));
    fs.chmodSync(dir, 0o755); // nginx's workers (nobody) must reach the socket
    const socket = path.join(dir, 'app.sock');
    const server = await startServer('forkserve.js', ['-w', '2', '-b', `unix:${socket}`, `${CLIENT}:app`], { group: true, cwd: ROOT });
    await until(() => (server.stdout().match(/^Booting worker/gm) ?? []).length, (n) => n === 2, 'two workers');
    const port = await startNginx(dir, socket);
    const log = (): string => `\n--- forkserve\n${server.stdout()}${server.stderr()}\n--- nginx error.log\n${readIf(path.join(dir, 'error.log'))}`;

    // curl from 127.0.0.3: the proxy connects over the unix socket, the app must still see .3.
    const r = await run('curl', ['-sS', '--fail', '--max-time', '20', '--interface', '127.0.0.3', `http://127.0.0.1:${port}/`]);
    expect(r.code, r.stderr + log()).toBe(0);
    expect(JSON.parse(r.stdout), log()).toMatchObject({ version: 'one', remoteAddress: '127.0.0.3', ip: '127.0.0.3', protocol: 'http', secure: false });

    // A client's own X-Forwarded-For is kept by nginx ($proxy_add_x_forwarded_for appends): the
    // address nginx saw, the rightmost, is the client; the forged entry is not believed.
    const forged = await run('curl', ['-sS', '--fail', '--max-time', '20', '--interface', '127.0.0.3', '-H', 'X-Forwarded-For: 6.6.6.6', `http://127.0.0.1:${port}/`]);
    expect(JSON.parse(forged.stdout), forged.stderr + log()).toMatchObject({ remoteAddress: '127.0.0.3', ip: '127.0.0.3' });

    const tls = await run('curl', ['-sS', '--fail', '--max-time', '20', '--interface', '127.0.0.4', `http://127.0.0.1:${port}/tls/`]);
    expect(JSON.parse(tls.stdout), tls.stderr + log()).toMatchObject({ remoteAddress: '127.0.0.4', protocol: 'https', secure: true });

    const ab = await run('ab', ['-q', '-n', '1000', '-c', '10', `http://127.0.0.1:${port}/ab`], 120_000);
    expect(ab.stdout, ab.stdout + ab.stderr + log()).toMatch(/Complete requests:\s+1000\n/);
    expect(ab.stdout, ab.stdout + log()).toMatch(/Failed requests:\s+0\n/);
    expect(ab.stdout, ab.stdout + log()).not.toMatch(/Non-2xx/);
    // nginx logged no upstream error (a refused or reset unix socket connection would be there).
    expect(readIf(path.join(dir, 'error.log'))).not.toMatch(/\[(error|crit)\]/);

    server.kill('SIGTERM');
    expect(await server.exited, log()).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(socket)).toBe(false);
  }, 120_000);
});
