// Work on libuv's threadpool at the fork (issue 25). The fork barrier parks every threadpool
// thread, so a job that runs for seconds (a slow dns.lookup, an NFS read, a big pbkdf2) keeps a
// fork from happening: that is a transient condition, never a crash. Start-up waits; the master
// keeps its workers and forks again once the job ends (HUP, TTIN); concurrent-final answers 503
// meanwhile. And I/O the parent has in flight at a fork stays the parent's: a child never runs
// the parent's callbacks on the parent's open files. Throw-away servers, ab and real clients.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, childStates, killAll, run, sleep, startServer, until, type Server } from '../helpers/procs';

afterEach(killAll);

const linux = process.platform === 'linux';
const HAZARDS = path.join(FIXTURES, 'apps', 'hazards');
const BUSY_APP = `${path.join(HAZARDS, 'busy-threadpool.js')}:app`;
const READER_APP = `${path.join(HAZARDS, 'background-reader.js')}:app`;

async function stop(server: Server): Promise<void> {
  server.kill('SIGTERM');
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 20_000))]);
}

/** GET / from `concurrency` loops until `untilMs` passes; the status of every answer, or the error. */
async function hammer(port: number, concurrency: number, forMs: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  const count = (key: string): void => void seen.set(key, (seen.get(key) ?? 0) + 1);
  const end = Date.now() + forMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < 10_000 && Date.now() < end; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(15_000) });
          await res.text();
          count(String(res.status));
        } catch (err) {
          count(`error ${(err as Error).message}`);
        }
      }
    }),
  );
  return seen;
}

describe.runIf(linux)('a busy threadpool at the fork', () => {
  it('forkserve: a job that keeps a threadpool thread busy at load: start-up waits for it (said), then serves', async () => {
    const server = await startServer('forkserve.js', ['-w', '2', '--port', '0', BUSY_APP], {
      env: { ...process.env, BUSY_AT_MS: '0', BUSY_MS: '3500' },
      timeoutMs: 40_000,
    });
    expect(server.stderr()).toMatch(/fork: waiting up to \d+ s before the first fork: libuv's threadpool is busy \(1 of \d+ threads still in a job/);
    await until(() => server.stderr(), (e) => /job done/.test(e), 'the job to end', 20_000);
    const r = await run('curl', ['-s', '-m', '10', `http://127.0.0.1:${server.port}/`]);
    expect(r.stdout).toBe('ok\n');
    await stop(server);
  }, 90_000);

  it('forkserve -w 2: HUP and TTIN while the master runs a 5 s threadpool job: the forks wait (said), the old workers serve meanwhile, 0 failed requests under ab, then 3 new workers', async () => {
    const server = await startServer('forkserve.js', ['-w', '2', '--port', '0', BUSY_APP], {
      env: { ...process.env, BUSY_AT_MS: '1000', BUSY_MS: '5000' },
    });
    const load = run('ab', ['-q', '-n', '200000', '-c', '4', '-t', '12', `http://127.0.0.1:${server.port}/`], 60_000);
    await until(() => server.stderr(), (e) => /job started/.test(e), 'the master to start its job', 10_000);
    await sleep(300);
    const before = (await childStates(server.pid)).map((c) => c.pid);
    process.kill(server.pid, 'SIGHUP');
    await sleep(500);
    process.kill(server.pid, 'SIGTTIN');
    const ab = await load;
    const seen = `ab: ${ab.stdout.slice(-600)}\nstdout: ${server.stdout()}\nstderr: ${server.stderr()}`;
    expect(ab.stdout, seen).toMatch(/Complete requests:\s+[1-9]\d*/);
    expect(ab.stdout, seen).toMatch(/Failed requests:\s+0\b/);
    expect(ab.stdout, seen).not.toMatch(/Non-2xx/);
    expect(server.stderr(), seen).toMatch(/fork EAGAIN: libuv's threadpool is busy \(1 of \d+ threads still in a job after [\d.]+ s[^)]*\): worker spawn postponed \(2 workers serving/);
    expect(server.stderr(), seen).toMatch(/job done/);
    expect(server.stdout(), seen).toMatch(/Forking workers again/);
    const after = await until(() => childStates(server.pid), (c) => c.length === 3 && c.every((k) => !before.includes(k.pid)), 'three new workers', 20_000);
    expect(after.filter((k) => k.stat.startsWith('Z')), seen).toEqual([]);
    await stop(server);
    expect((await server.exited).code, seen).toBe(0);
  }, 120_000);

  it('concurrent-final under load while the parent runs a 5 s threadpool job: 503s while no child can be forked (said once), every other answer 200, the server serves on', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', BUSY_APP], {
      env: { ...process.env, BUSY_AT_MS: '1500', BUSY_MS: '5000' },
    });
    const seen = await hammer(server.port, 4, 9000);
    const statuses = [...seen.keys()].sort();
    const report = `${JSON.stringify(Object.fromEntries(seen))}\nstderr: ${server.stderr()}`;
    expect(statuses, report).toEqual(['200', '503']);
    expect(server.stderr(), report).toMatch(/job done/);
    expect(server.stderr().match(/answering 503 until a child can be forked/g), report).toHaveLength(1);
    // After the job: served again.
    const r = await run('curl', ['-s', '-m', '10', `http://127.0.0.1:${server.port}/`]);
    expect(r.stdout, report).toBe('ok\n');
    await stop(server);
  }, 120_000);
});

describe.runIf(linux)('I/O in flight at the fork stays the parent\'s', () => {
  let dir = '';
  let file = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-io-'));
    file = path.join(dir, 'lines.txt');
    fs.writeFileSync(file, Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join(''));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const s of [
    { name: 'concurrent-final', entry: 'concurrent-final.js', args: [] as string[] },
    { name: 'forkserve -w 2 with HUPs', entry: 'forkserve.js', args: ['-w', '2'] },
  ]) {
    it(`${s.name}: a parent reading a file in the background while forking: every read of the parent's and of its children whole, no child runs the parent's read`, async () => {
      const server = await startServer(s.entry, [...s.args, '--port', '0', READER_APP], { env: { ...process.env, READ_FILE: file } });
      const load = run('ab', ['-q', '-n', '300', '-c', '10', `http://127.0.0.1:${server.port}/`], 90_000);
      if (s.entry === 'forkserve.js') {
        for (let i = 0; i < 10; i++) {
          await sleep(300);
          process.kill(server.pid, 'SIGHUP'); // forks from a master whose own reads are in flight
        }
      }
      const ab = await load;
      await stop(server);
      const seen = `ab: ${ab.stdout.slice(-500)}\nstderr: ${server.stderr()}`;
      expect(ab.stdout, seen).toMatch(/Complete requests:\s+300/);
      expect(ab.stdout, seen).toMatch(/Failed requests:\s+0\b/); // every child's read was whole ("ok N", one length)
      expect(server.stderr(), seen).not.toMatch(/ran the parent's read/);
      const tally = /background-reader: (\d+) reads, (\d+) wrong/.exec(server.stderr());
      expect(tally, seen).not.toBeNull();
      expect(Number(tally![1]), seen).toBeGreaterThan(0);
      expect(Number(tally![2]), seen).toBe(0);
    }, 150_000);
  }
});
