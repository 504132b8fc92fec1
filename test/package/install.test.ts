// forkserve as a user gets it: `npm pack`, then `npm install <tarball> express` in a fresh app
// directory (the addon builds there with node-gyp, no TypeScript needed), and the package's bins
// serve that app. The same install then meets another Node: the one-line mismatch error, and the
// `npm rebuild` it recommends really fixes it. Everything runs in throw-away processes and folders.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { otherAbiNode } from '../helpers/nodes';
import { ROOT, killAll, run, startServer } from '../helpers/procs';

afterEach(killAll);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-install-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const APP = `'use strict';
const express = require('express');
const app = express();
app.get('/hello', (req, res) => res.type('text/plain').send('Hello from an installed forkserve!'));
module.exports = { app };
`;

function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

const expressVersion = (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'express', 'package.json'), 'utf8')) as { version: string }).version;

describe('the packed package installed into an app', () => {
  const appDir = path.join(tmp, 'app');
  let tarball = '';

  it('npm pack holds the built JavaScript, the addon sources and binding.gyp, not the TypeScript', async () => {
    // `npm test` has just built dist/; --ignore-scripts keeps pack from rebuilding it under the tests.
    const r = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], 120_000, undefined, { cwd: ROOT });
    expect(r.code, r.stderr).toBe(0);
    const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(tmp, info.filename);
    const files = info.files.map((f) => f.path);
    for (const f of ['package.json', 'binding.gyp', 'native/fork.cc', 'native/addon.cc', 'dist/concurrent-final.js', 'dist/posix.js', 'dist/entry.js', 'dist/bin/webserver2.js']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('build/') || f.endsWith('.map'))).toEqual([]);
  }, 180_000);

  it('npm install <tarball> express builds the addon on install, without TypeScript', async () => {
    expect(tarball).not.toBe('');
    fs.mkdirSync(appDir);
    // allowScripts: npm 12 runs no dependency's install script unless the app allows it (npm 11 warns);
    // forkserve's is node-gyp building the addon. `npm install-scripts approve forkserve` writes the same.
    fs.writeFileSync(path.join(appDir, 'package.json'), JSON.stringify({ name: 'an-app', version: '1.0.0', private: true, allowScripts: { forkserve: true } }));
    fs.writeFileSync(path.join(appDir, 'app.js'), APP);
    const r = await run('npm', ['install', tarball, `express@${expressVersion}`, '--prefer-offline', '--no-audit', '--no-fund'], 600_000, undefined, { cwd: appDir });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const installed = path.join(appDir, 'node_modules', 'forkserve');
    expect(fs.existsSync(path.join(installed, 'build', 'Release', 'forkserve.node'))).toBe(true);
    expect(fs.existsSync(path.join(appDir, 'node_modules', 'typescript'))).toBe(false);
    expect(fs.existsSync(path.join(appDir, 'node_modules', '.bin', 'forkserve-concurrent-final'))).toBe(true);
  }, 660_000);

  it('npx forkserve-concurrent-final --help names the command as the user typed it', async () => {
    const r = await run('npx', ['--no-install', 'forkserve-concurrent-final', '--help'], 60_000, undefined, { cwd: appDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: forkserve-concurrent-final \[options\] \[module:export\]/);
  }, 90_000);

  it.each(['forkserve-concurrent-final', 'forkserve-webserver2'])('%s app.js:app serves the app', async (bin) => {
    const server = await startServer('', ['--port', '0', '--quiet', 'app.js:app'], {
      executable: path.join(appDir, 'node_modules', '.bin', bin),
      cwd: appDir,
      timeoutMs: 30_000,
    });
    const r = await get(server.port, '/hello');
    expect(r, server.stderr()).toEqual({ status: 200, body: 'Hello from an installed forkserve!' });
    server.kill('SIGTERM');
    // concurrent-final stops gracefully (exit 0); webserver2, the tutorial's iterative stage, dies by it.
    expect(await server.exited).toEqual(bin === 'forkserve-webserver2' ? { code: null, signal: 'SIGTERM' } : { code: 0, signal: null });
  }, 60_000);

  it('forkserve -w 2 app.js:app (the pre-fork server) serves the app and stops on TERM', async () => {
    const server = await startServer('', ['-w', '2', '--port', '0', 'app.js:app'], {
      executable: path.join(appDir, 'node_modules', '.bin', 'forkserve'),
      cwd: appDir,
      timeoutMs: 30_000,
    });
    const r = await get(server.port, '/hello');
    expect(r, server.stderr()).toEqual({ status: 200, body: 'Hello from an installed forkserve!' });
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('under another Node: one line, exit 1; after `npm rebuild` there, it serves', async () => {
    const other = otherAbiNode();
    const otherDir = path.dirname(path.dirname(other.bin));
    const env = { ...process.env, PATH: `${path.dirname(other.bin)}${path.delimiter}${process.env.PATH}`, npm_config_nodedir: otherDir };
    const entry = path.join(appDir, 'node_modules', '.bin', 'forkserve-concurrent-final');
    const refused = await run(entry, ['--port', '0', 'app.js:app'], 30_000, undefined, { cwd: appDir, env });
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toBe(
      `forkserve-concurrent-final: forkserve's native addon was built for Node ${process.versions.node} (ABI ${process.versions.modules}), ` +
        `running on Node ${other.version} (ABI ${other.abi}): run npm rebuild\n`,
    );
    const rebuilt = await run('npm', ['rebuild'], 600_000, undefined, { cwd: appDir, env });
    expect(rebuilt.code, `${rebuilt.stdout}\n${rebuilt.stderr}`).toBe(0);
    const probe = await run(other.bin, ['-e', `require('forkserve'); console.log(process.versions.node)`], 30_000, undefined, { cwd: appDir, env });
    expect(probe.stdout.trim(), probe.stderr).toBe(other.version);
  }, 720_000);
});
