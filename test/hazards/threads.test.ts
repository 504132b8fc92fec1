// Threads an app starts before the fork (issue 25): a worker_threads Worker, piscina, a pino
// transport, sharp (libvips). A forked process has none of them, only their locks and queues, so
// forkserve refuses such an app at start-up with one line naming the threads and the fix; libvips,
// which ends its idle threads by itself, is waited for. The same libraries created lazily in the
// worker or child work. Real packages, real servers, one throw-away process each.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, FIXTURES, killAll, run, startServer, until, type Server } from '../helpers/procs';

afterEach(killAll);

const linux = process.platform === 'linux';
const APP = `${path.join(FIXTURES, 'apps', 'hazards', 'threads.js')}:app`;
const SERVERS = [
  { name: 'forkserve -w 2', entry: 'forkserve.js', args: ['-w', '2'], fix: /start them in a postFork hook \(--config\) or lazily at the first request/ },
  { name: 'concurrent-final', entry: 'concurrent-final.js', args: [], fix: /start them lazily, at the first request/ },
];
const ANSWERS: Record<string, string> = { worker: 'worker 42', piscina: 'piscina 42', sharp: 'sharp 8x8', pino: 'pino ok' };

async function getText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(15_000) });
  return res.text();
}

async function stop(server: Server): Promise<void> {
  server.kill('SIGTERM');
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 20_000))]);
}

describe.runIf(linux)('forkserve --no-preload: each worker loads the app after its fork', () => {
  it('an app that starts a Worker, piscina and pino at load is served (refused without it), each worker with its own', async () => {
    for (const hazard of ['worker', 'piscina', 'pino']) {
      const server = await startServer('forkserve.js', ['-w', '2', '--no-preload', '--port', '0', APP], {
        env: { ...process.env, HAZARD: hazard, PINO_FILE: '/dev/null' },
        timeoutMs: 20_000,
      });
      await until(() => server.stdout(), (o) => /Serving \S+threads\.js:app \(loaded by each worker: --no-preload\) with 2 workers/.test(o), 'the app line');
      for (let i = 0; i < 6; i++) expect(await getText(server.port), `${hazard} | ${server.stderr()}`).toBe(ANSWERS[hazard]);
      await stop(server);
      expect(server.stderr(), hazard).toBe('');
    }
  }, 90_000);

  it('workers still loading the app when the master is killed exit too (the death signal is set before the load)', async () => {
    const server = await startServer('forkserve.js', ['-w', '2', '--no-preload', '--port', '0', `${path.join(FIXTURES, 'apps', 'hazards', 'slow-load.js')}:app`], {
      env: { ...process.env, LOAD_MS: '3000' },
    });
    const booted = await until(() => [...server.stdout().matchAll(/Booting worker with pid (\d+)/g)].map((m) => Number(m[1])), (p) => p.length === 2, 'two workers forked');
    server.kill('SIGKILL');
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
      } catch {
        return false;
      }
    };
    const left = await until(() => booted.filter(alive), (l) => l.length === 0, 'the workers to exit', 15_000).catch(() => booted.filter(alive));
    for (const pid of left) process.kill(pid, 'SIGKILL');
    expect(left, `workers ${booted.join(', ')} still running after their master was killed`).toEqual([]);
  }, 60_000);

  it('an app that fails to load in the workers: each says why, and the master stops with exit code 3', async () => {
    const r = await run(process.execPath, [path.join(DIST, 'forkserve.js'), '-w', '2', '--no-preload', '--port', '0', APP], 60_000, undefined, {
      env: { ...process.env, HAZARD: 'none' },
    });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/Worker \d+: loading the app failed: cannot load \S+threads\.js: HAZARD must be one of/);
    expect(r.stderr).toMatch(/workers in a row died at boot, before serving a request: stopping/);
  }, 90_000);
});

describe.runIf(linux)('threads the app starts before the fork', () => {
  for (const s of SERVERS) {
    for (const hazard of ['worker', 'piscina', 'pino']) {
      it(`${s.name}: ${hazard} at load is refused at start-up: exit 1, one line naming a worker_threads Worker and the fix, nothing served`, async () => {
        const r = await run(process.execPath, [path.join(DIST, s.entry), ...s.args, '--port', '0', APP], 40_000, undefined, {
          env: { ...process.env, HAZARD: hazard, PINO_FILE: '/dev/null' },
        });
        const seen = `code ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`;
        expect(r.code, seen).toBe(1);
        expect(r.stdout, seen).not.toMatch(/Serving HTTP/);
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines, seen).toHaveLength(1);
        expect(lines[0], seen).toMatch(/: fork: the app started (a thread|\d+ threads) before the fork, which a forked process would not have/);
        expect(lines[0], seen).toMatch(/worker_threads Worker/);
        expect(lines[0], seen).toMatch(s.fix);
        expect(lines[0], seen).not.toMatch(/\n\s+at /);
      }, 60_000);
    }

    it(`${s.name}: each of them created lazily in the worker or child works: Worker, piscina, sharp, pino (every line written)`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-threads-'));
      try {
        for (const hazard of Object.keys(ANSWERS)) {
          const pinoFile = path.join(dir, `${hazard}.log`);
          const server = await startServer(s.entry, [...s.args, '--port', '0', APP], {
            env: { ...process.env, HAZARD: hazard, LAZY: '1', PINO_FILE: pinoFile },
            timeoutMs: 20_000,
          });
          for (let i = 0; i < 6; i++) expect(await getText(server.port), `${hazard} | ${server.stderr()}`).toBe(ANSWERS[hazard]);
          await stop(server);
          expect(server.stderr(), hazard).not.toMatch(/fork:|Error/);
          if (hazard === 'pino') {
            // The transport's thread flushes at the worker's or child's exit ('exit' listeners it added run).
            const lines = fs.readFileSync(pinoFile, 'utf8').trim().split('\n').filter(Boolean);
            expect(lines.length, `pino lines: ${lines.join('\n')}`).toBe(6);
          }
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }

  // Both servers at once: each start-up mostly waits (libvips ends its threads ~15 s after a call).
  it('sharp used at load, under concurrent-final and forkserve -w 2 side by side: start-up waits for libvips to end its threads (said on stderr), then every request is served', async () => {
    await Promise.all(
      SERVERS.map(async (s) => {
        const server = await startServer(s.entry, [...s.args, '--port', '0', APP], { env: { ...process.env, HAZARD: 'sharp' }, timeoutMs: 40_000 });
        expect(server.stderr(), s.name).toMatch(/fork: waiting up to \d+ s for threads the app started to end: \d+ × 'libvips worker' \(sharp's libvips/);
        for (let i = 0; i < 6; i++) expect(await getText(server.port), `${s.name} | ${server.stderr()}`).toBe('sharp 8x8');
        await stop(server);
      }),
    );
  }, 90_000);
});
