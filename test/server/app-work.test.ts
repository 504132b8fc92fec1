// The app's own work after its response (issue 27): a concurrent-final child, and a forkserve worker
// at TERM or --max-requests, let it finish before they leave, up to --graceful-timeout (and say
// what was left when they could not wait longer). Before, all of it was lost: the child or worker
// left as soon as its connection closed. Throw-away servers; the work appends lines to a file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beyond, countResources, onlyConnections } from '../../src/server/pending-work';
import { FIXTURES, killAll, run, sleep, startServer, until } from '../helpers/procs';

afterEach(killAll);

const APP = `${path.join(FIXTURES, 'apps', 'after-response.js')}:app`;
let dir = '';
let file = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-after-'));
  file = path.join(dir, 'after.txt');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const written = (): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
const ids = (): number[] => written().map((l) => Number(l.split(' ')[0])).sort((a, b) => a - b);

async function get(port: number, query: string): Promise<string> {
  const r = await run('curl', ['-sS', '-m', '10', `http://127.0.0.1:${port}/?${query}`], 15_000);
  expect(r.stderr).toBe('');
  return r.stdout;
}

describe('beyond: what a process has more than at its start', () => {
  it('counts each kind above its base; fewer than the base is nothing', () => {
    const base = countResources(['TTYWrap', 'Timeout', 'TCPSocketWrap']);
    expect(beyond(countResources(['TTYWrap', 'Timeout', 'Timeout', 'FSReqCallback', 'TCPSocketWrap']), base)).toEqual(['1 × Timeout', '1 × FSReqCallback']);
    expect(beyond(countResources(['TTYWrap']), base)).toEqual([]);
    expect(beyond(countResources([]), countResources([]))).toEqual([]);
  });
});

describe('onlyConnections: what is waited for briefly', () => {
  it('sockets the app keeps are; a timer or a request in flight is not', () => {
    expect(onlyConnections(['1 × TCPSocketWrap', '2 × PipeWrap'])).toBe(true);
    expect(onlyConnections(['1 × TCPSocketWrap', '1 × Timeout'])).toBe(false);
    expect(onlyConnections(['1 × FSReqCallback'])).toBe(false);
  });
});

describe('work the app starts after its response', () => {
  it('concurrent-final: each child finishes it before it leaves (10 connections, 10 lines)', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--quiet', APP], { env: { ...process.env, AFTER_FILE: file } });
    for (let i = 0; i < 10; i++) expect(await get(server.port, `id=${i}`)).toBe(`ok ${i}\n`);
    expect(await until(ids, (l) => l.length === 10, 'ten lines', 15_000).catch(() => ids())).toEqual([...Array(10).keys()]);
    expect(server.stderr()).toBe('');
  }, 60_000);

  it('concurrent-final: work on the threadpool, which Node does not list (zlib.gzip, crypto.pbkdf2), is finished too (6 connections, 6 lines)', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--quiet', APP], { env: { ...process.env, AFTER_FILE: file } });
    for (let i = 0; i < 6; i++) expect(await get(server.port, `id=${i}&${i % 2 ? 'pbkdf2' : 'gzip'}`)).toBe(`ok ${i}\n`);
    expect(await until(ids, (l) => l.length === 6, 'six lines', 30_000).catch(() => ids())).toEqual([...Array(6).keys()]);
    expect(server.stderr()).toBe('');
  }, 60_000);

  it('forkserve: a worker recycled by --max-requests 5, and one stopped by TERM, finish it first (12 requests, 12 lines)', async () => {
    const server = await startServer('forkserve.js', ['-w', '1', '--port', '0', '--max-requests', '5', APP], { env: { ...process.env, AFTER_FILE: file }, group: true });
    for (let i = 0; i < 12; i++) expect(await get(server.port, `id=${i}`)).toBe(`ok ${i}\n`);
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(ids(), server.stdout() + server.stderr()).toEqual([...Array(12).keys()]);
    expect(new Set(written().map((l) => l.split(' ')[1])).size, 'three workers wrote them').toBe(3);
  }, 60_000);

  it('work that never ends: the child leaves at --graceful-timeout and says what was left', async () => {
    const server = await startServer('concurrent-final.js', ['--port', '0', '--quiet', '--graceful-timeout', '1', APP], { env: { ...process.env, AFTER_FILE: file } });
    expect(await get(server.port, 'id=1&forever')).toBe('ok 1\n');
    const said = await until(() => server.stderr(), (e) => /left with the app's work unfinished/.test(e), 'the line', 15_000);
    expect(said).toMatch(/^Child \d+ left with the app's work unfinished after 1 s \(--graceful-timeout\): 1 × Timeout$/m);
    expect(ids(), 'the timer before it ran').toEqual([1]);
    await sleep(100);
  }, 30_000);
});
