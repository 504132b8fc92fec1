// The README's fork-safety table, row by row, for the libraries not covered by a test of their own
// kind (issue 25): SQLite (better-sqlite3 and node:sqlite) open at load is refused at start-up, and
// works opened in each worker or child; prom-client's default metrics collected at load fail each
// worker's first scrape, and work started in postFork; pino and winston writing to files from the
// master's loggers lose no line and tear none. Real packages, real servers, throw-away processes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, FIXTURES, killAll, run, startServer, type Server } from '../helpers/procs';

afterEach(killAll);

const linux = process.platform === 'linux';
const HAZARDS = path.join(FIXTURES, 'apps', 'hazards');
const SERVERS = [
  { name: 'forkserve -w 2', entry: 'forkserve.js', args: ['-w', '2'], fix: /open it in a postFork hook \(--config\) or lazily at the first request, or run with --no-preload/ },
  { name: 'concurrent-final', entry: 'concurrent-final.js', args: [], fix: /open it lazily, at the first request/ },
];

/** The SQLite drivers this Node can load: better-sqlite3 is built for the Node that installed it; node:sqlite is in Node >= 22.13. */
function loadable(driver: string): boolean {
  try {
    if (driver === 'node:sqlite') new (require('node:sqlite').DatabaseSync)(':memory:').close();
    else new (require('better-sqlite3'))(':memory:').close();
    return true;
  } catch {
    return false;
  }
}
const DRIVERS = ['better-sqlite3', 'node:sqlite'].filter(loadable);

/** SQLite's own check of the file, and its rows, read in this process. */
function integrity(driver: string, file: string): { check: string; rows: number } {
  if (driver === 'node:sqlite') {
    const db = new (require('node:sqlite').DatabaseSync)(file);
    const out = { check: db.prepare('PRAGMA integrity_check').get().integrity_check, rows: db.prepare('SELECT count(*) AS n FROM hits').get().n };
    db.close();
    return out;
  }
  const db = new (require('better-sqlite3'))(file);
  const out = { check: db.pragma('integrity_check', { simple: true }), rows: db.prepare('SELECT count(*) AS n FROM hits').get().n };
  db.close();
  return out;
}

async function get(port: number, url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${url}`, { signal: AbortSignal.timeout(15_000), headers: { connection: 'close' } });
  return { status: res.status, text: await res.text() };
}

async function stop(server: Server): Promise<void> {
  server.kill('SIGTERM');
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 20_000))]);
}

/** Node's own warnings on stderr (node:sqlite is experimental in 22 and 24), not forkserve's lines. */
const forkserveLines = (stderr: string): string[] =>
  stderr.trimEnd().split('\n').filter((l) => l !== '' && !/^\(node:\d+\) ExperimentalWarning|^\(Use `node --trace-warnings/.test(l));

describe.runIf(linux && DRIVERS.length > 0)(`SQLite open before the fork (${DRIVERS.join(', ')} on Node ${process.versions.node})`, () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const driver of DRIVERS) {
    for (const s of SERVERS) {
      it(`${s.name}, ${driver}: opened at load is refused at start-up (exit 1, one line naming the file and the fix); opened lazily, every request is counted and the file is sound`, async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-sqlite-'));
        const db = path.join(dir, 'app.db');
        const env = { ...process.env, DRIVER: driver, DB: db };
        const r = await run(process.execPath, [path.join(DIST, s.entry), ...s.args, '--port', '0', `${HAZARDS}/sqlite.js:app`], 40_000, undefined, { env });
        const seen = `code ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`;
        expect(r.code, seen).toBe(1);
        expect(r.stdout, seen).not.toMatch(/Serving HTTP/);
        const lines = forkserveLines(r.stderr);
        expect(lines, seen).toHaveLength(1);
        expect(lines[0], seen).toContain(`fork: the app opened an SQLite database before the fork (${fs.realpathSync(db)}); SQLite forbids using a connection across fork()`);
        expect(lines[0], seen).toMatch(s.fix);

        const server = await startServer(s.entry, [...s.args, '--port', '0', `${HAZARDS}/sqlite.js:app`], { env: { ...env, LAZY: '1' }, timeoutMs: 20_000 });
        const pids = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const { status, text } = await get(server.port, '/');
          expect(status, `${text} | ${server.stderr()}`).toBe(200);
          const m = /rows=(\d+) pid=(\d+)/.exec(text);
          expect(Number(m?.[1]), text).toBe(i + 2); // the row the refused start-up wrote, then one per request
          pids.add(m![2]);
        }
        await stop(server);
        expect(forkserveLines(server.stderr()).filter((l) => /fork:|Error/.test(l)), server.stderr()).toEqual([]);
        const sound = integrity(driver, db);
        expect(sound, `${pids.size} processes served`).toEqual({ check: 'ok', rows: 21 });
      }, 90_000);
    }
  }

  it('forkserve --no-preload serves the app that opens its database at load (each worker opens its own)', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-sqlite-'));
    const server = await startServer('forkserve.js', ['-w', '2', '--no-preload', '--port', '0', `${HAZARDS}/sqlite.js:app`], {
      env: { ...process.env, DRIVER: DRIVERS[0], DB: path.join(dir, 'app.db') },
      timeoutMs: 20_000,
    });
    for (let i = 0; i < 6; i++) expect((await get(server.port, '/')).status, server.stderr()).toBe(200);
    await stop(server);
  }, 60_000);
});

describe.runIf(linux)('prom-client default metrics (CPU counters)', () => {
  it('collected at load: a worker\'s first scrape answers 500 (the counter would go backwards), the next 200; started in postFork: every scrape 200', async () => {
    const app = `${HAZARDS}/metrics.js:app`;
    const atLoad = await startServer('forkserve.js', ['-w', '1', '--port', '0', app], { timeoutMs: 20_000 });
    const first = await get(atLoad.port, '/metrics');
    const second = await get(atLoad.port, '/metrics');
    await stop(atLoad);
    expect(first.status, first.text).toBe(500);
    expect(first.text).toContain('It is not possible to decrease a counter');
    expect(second.status, second.text).toBe(200);

    const config = path.join(FIXTURES, 'configs', 'prom-post-fork.config.js');
    const hooked = await startServer('forkserve.js', ['-w', '2', '--port', '0', '-c', config, app], { env: { ...process.env, COLLECT: 'hook' }, timeoutMs: 20_000 });
    for (let i = 0; i < 12; i++) {
      const r = await get(hooked.port, '/metrics');
      expect(r.status, r.text).toBe(200);
      expect(r.text).toMatch(/^process_cpu_user_seconds_total \d/m);
    }
    await stop(hooked);
  }, 60_000);
});

describe.runIf(linux)('pino and winston writing to files, created at load', () => {
  for (const s of SERVERS) {
    it(`${s.name}: every request's line is in both files, whole, once, written by the process that served it`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-loggers-'));
      try {
        const files = { PINO_FILE: path.join(dir, 'pino.log'), WINSTON_FILE: path.join(dir, 'winston.log') };
        const server = await startServer(s.entry, [...s.args, '--port', '0', `${HAZARDS}/loggers.js:app`], { env: { ...process.env, ...files }, timeoutMs: 20_000 });
        const N = 60;
        for (let i = 0; i < N; i += 6) {
          const batch = await Promise.all([0, 1, 2, 3, 4, 5].map((k) => get(server.port, `/?id=${i + k}`)));
          for (const r of batch) expect(r.status, `${r.text} | ${server.stderr()}`).toBe(200);
        }
        await stop(server);
        for (const file of Object.values(files)) {
          const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
          const ids = lines.map((l) => {
            const rec = JSON.parse(l) as { id: string; pid: number };
            expect(rec.pid, l).not.toBe(server.pid); // the master serves nothing
            return Number(rec.id);
          });
          expect(ids.sort((a, b) => a - b), `${file}: ${lines.length} lines`).toEqual([...Array(N).keys()]);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 90_000);
  }
});
