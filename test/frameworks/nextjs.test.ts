// Next.js 16 (the real next, react and react-dom packages) hosted by forkserve through Next's
// custom-server handler (examples/nextjs/server.js exports a Promise of `(req, res) => handle(req, res)`),
// under the pre-fork server (forkserve -w 2) and the fork-per-connection server (concurrent-final).
// Issue 27: after() and ISR regeneration work under both servers, and pending after() work survives a
// TERM and --max-requests recycling. The app is built once (`next build`); `next start` on the same
// build is the reference for the answers. Servers are throw-away processes in process groups of their
// own, killed after each test.
//
// Next prints a line of its own ("✓ Running next.config.js took 40ms") while the app loads, which is
// before forkserve's "Serving HTTP on port N ..." line: startServer() (which wants that line first)
// cannot be used, so the servers are started here and the serving line is looked for on any line.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SERVING, exitWithin, startGroup, stopGroups, type GroupProc } from '../helpers/groups';
import { DIST, ROOT, run, sleep, until } from '../helpers/procs';

// Next 16 needs Node >= 20.9 (its engines field); every Node forkserve supports has it.
const [MAJOR, MINOR] = process.versions.node.split('.').map(Number);
const NEXT_RUNS_HERE = MAJOR > 20 || (MAJOR === 20 && MINOR >= 9);

const APP_DIR = path.join(ROOT, 'examples', 'nextjs');
const APP = `${path.join(APP_DIR, 'server.js')}:app`;
const NEXT_BIN = path.join(ROOT, 'node_modules', 'next', 'dist', 'bin', 'next');
// Next's telemetry would try the network at the build; there is none here.
const ENV = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };

function startForkserve(extra: string[] = [], env: NodeJS.ProcessEnv = ENV): Promise<GroupProc> {
  return startGroup([path.join(DIST, 'forkserve.js'), '-w', '2', '--port', '0', ...extra, APP], SERVING, env);
}

function startConcurrentFinal(extra: string[] = [], env: NodeJS.ProcessEnv = ENV): Promise<GroupProc> {
  return startGroup([path.join(DIST, 'concurrent-final.js'), '--port', '0', ...extra, APP], SERVING, env);
}

/** Worker pids from forkserve's "Booting worker with pid N" lines. */
function bootedPids(server: GroupProc): number[] {
  return [...server.stdout().matchAll(/^Booting worker with pid (\d+)$/gm)].map((m) => Number(m[1]));
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** ms from the request to the first and to the last byte of the body. */
  firstByteMs: number;
  lastByteMs: number;
  /** The body as it came, piece by piece. */
  pieces: Buffer[];
}

/** One GET on a connection of its own (no keep-alive pool), bounded by timeoutMs. */
function get(port: number, urlPath: string, timeoutMs = 20_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let firstByteMs = -1;
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (firstByteMs < 0) firstByteMs = Date.now() - t0;
        chunks.push(c);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          firstByteMs,
          lastByteMs: Date.now() - t0,
          pieces: chunks,
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${urlPath} on port ${port}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** What a reply looks like in a failure message. */
function show(r: Reply): string {
  return `${r.status} ${JSON.stringify(r.headers)}\n${r.body.slice(0, 2000)}`;
}

/** A file under /_next/static/ that the page references (a script or a stylesheet). */
function staticAsset(html: string): string {
  const m = /"(\/_next\/static\/[^"?]+\.(?:js|css))"/.exec(html);
  if (!m) throw new Error(`no /_next/static/ file in the page:\n${html.slice(0, 3000)}`);
  return m[1];
}

const STREAM_BODY = [0, 1, 2, 3, 4].map((i) => `chunk ${i}\n`).join('');

/** What `next start` answers on the same build: the reference. */
const reference: Record<string, Reply> = {};
const REFERENCE_PATHS = ['/', '/api/hello', '/forkserve.txt', '/api/stream'];

describe.skipIf(!NEXT_RUNS_HERE)('Next.js 16 under forkserve and concurrent-final (examples/nextjs)', () => {
  beforeAll(async () => {
    // Always built: a build left from other sources would hide a build that fails now.
    const build = await run(process.execPath, [NEXT_BIN, 'build', APP_DIR], 240_000, undefined, { cwd: ROOT, env: ENV });
    expect(build.code, `next build failed (timed out: ${build.timedOut}):\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`).toBe(0);
    expect(build.stdout, build.stdout).toMatch(/○ \/isr\s+1s/); // prerendered, revalidated every second

    const next = await startGroup([NEXT_BIN, 'start', '-p', '0', APP_DIR], /^- Local:\s+http:\/\/localhost:(\d+)$/m);
    try {
      for (const p of REFERENCE_PATHS) reference[p] = await get(next.port, p);
      reference.asset = await get(next.port, staticAsset(reference['/'].body));
      for (const [p, r] of Object.entries(reference)) expect(r.status, `next start: ${p}: ${show(r)}`).toBe(200);
      expect(reference['/'].body).toContain('Hello world from Next.js!');
      expect(reference['/api/stream'].body).toBe(STREAM_BODY);
    } finally {
      next.killGroup(); // next start and whatever it started
    }
  }, 300_000);

  afterEach(stopGroups);
  afterAll(stopGroups);

  let dir = '';
  let afterFile = '';
  let env: NodeJS.ProcessEnv = ENV;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-next-'));
    afterFile = path.join(dir, 'after.txt');
    env = { ...ENV, AFTER_FILE: afterFile };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The lines after() wrote: "<id> <pid>". */
  const lines = (): { id: number; pid: number }[] =>
    (fs.existsSync(afterFile) ? fs.readFileSync(afterFile, 'utf8').split('\n').filter(Boolean) : []).map((l) => {
      const [id, pid] = l.split(' ').map(Number);
      return { id, pid };
    });
  const ids = (): number[] => lines().map((l) => l.id).sort((a, b) => a - b);
  const TEN = [...Array(10).keys()];

  async function afterRequests(server: GroupProc, concurrently: boolean): Promise<void> {
    const one = async (i: number): Promise<void> => {
      const r = await get(server.port, `/api/after?id=${i}`);
      expect(r.status, show(r)).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ id: String(i) });
    };
    if (concurrently) await Promise.all(TEN.map(one));
    else for (const i of TEN) await one(i);
  }

  /**
   * ISR with `revalidate = 1`: after a second the page is stale; the next request gets the old page
   * (x-nextjs-cache: STALE) and starts its regeneration, a later one gets the new page. Passes once two
   * pages generated after the server started (nothing else runs Next meanwhile, so this server
   * generated them) have been served, one after the other: regenerations reach the clients, more than
   * once. At most 20 tries, 700 ms apart.
   */
  async function isrRegenerates(server: GroupProc): Promise<void> {
    const seen: string[] = [];
    const fresh = new Set<number>();
    let previous = -1;
    for (let i = 0; i < 20 && fresh.size < 2; i++) {
      const r = await get(server.port, '/isr');
      const m = /generated at <span id="generated">(\d+)<\/span> by pid <span id="pid">(\d+)<\/span>/.exec(r.body);
      seen.push(`${Date.now() - server.readyAt} ms: ${r.status} x-nextjs-cache: ${r.headers['x-nextjs-cache']} generated ${m ? `${Number(m[1]) - server.readyAt} ms by pid ${m[2]}` : `? ${r.body.slice(0, 300)}`}`);
      expect(r.status, seen.join('\n')).toBe(200);
      if (m) {
        const at = Number(m[1]);
        if (at > server.readyAt && at !== previous) fresh.add(at);
        previous = at;
      }
      await sleep(700);
    }
    expect(fresh.size, `two regenerated pages (times since the serving line; server pid ${server.pid}):\n${seen.join('\n')}\nstderr: ${server.stderr().slice(-3000)}`).toBe(2);
  }

  async function sameAsNextStart(server: GroupProc): Promise<void> {
    for (const p of REFERENCE_PATHS) {
      const r = await get(server.port, p);
      expect({ status: r.status, type: r.headers['content-type'], body: r.body }, `${p}: ${show(r)}`).toEqual({
        status: reference[p].status,
        type: reference[p].headers['content-type'],
        body: reference[p].body,
      });
    }
    // The script or stylesheet the page (as this server sent it) refers to.
    const page = await get(server.port, '/');
    const asset = await get(server.port, staticAsset(page.body));
    expect(asset.status, show(asset)).toBe(200);
    expect(asset.body === reference.asset.body, `${staticAsset(page.body)}: ${asset.body.length} bytes, next start sent ${reference.asset.body.length}`).toBe(true);
    expect(asset.headers['cache-control']).toBe(reference.asset.headers['cache-control']);
  }

  async function streams(server: GroupProc): Promise<void> {
    // Five chunks 50 ms apart: all of them, and not held back until the end.
    const r = await get(server.port, '/api/stream');
    expect(r.status, show(r)).toBe(200);
    expect(r.body).toBe(STREAM_BODY);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.lastByteMs - r.firstByteMs, `first byte at ${r.firstByteMs} ms, last at ${r.lastByteMs} ms`).toBeGreaterThanOrEqual(150);
    // A page with Suspense: the shell with the fallback first, the slow part (500 ms later) in a later
    // piece of the same response.
    const page = await get(server.port, '/suspense');
    expect(page.status, show(page)).toBe(200);
    const upTo = (text: string): number => page.pieces.findIndex((_, i) => Buffer.concat(page.pieces.slice(0, i + 1)).toString('utf8').includes(text));
    expect({ fallback: upTo('loading…') >= 0, slow: upTo('slow part done') >= 0 }, page.body).toEqual({ fallback: true, slow: true });
    expect(upTo('loading…'), `the fallback came with the slow part: ${page.pieces.length} pieces, first byte at ${page.firstByteMs} ms, last at ${page.lastByteMs} ms`).toBeLessThan(upTo('slow part done'));
  }

  describe('forkserve -w 2', () => {
    it('answers /, /api/hello, a public file and a /_next/static file as next start does; streams', async () => {
      const server = await startForkserve();
      await until(() => bootedPids(server).length, (n) => n === 2, 'two "Booting worker" lines');
      await sameAsNextStart(server);
      await streams(server);
      expect(server.stderr()).toBe('');
    }, 60_000);

    it('after(): 10 requests, 10 lines, written by the workers', async () => {
      const server = await startForkserve([], env);
      await until(() => bootedPids(server).length, (n) => n === 2, 'two "Booting worker" lines');
      await afterRequests(server, false);
      expect(await until(ids, (l) => l.length === 10, 'ten lines', 15_000).catch(() => ids())).toEqual(TEN);
      const workers = bootedPids(server);
      expect(lines().every((l) => workers.includes(l.pid)), `${JSON.stringify(lines())}, workers ${workers}`).toBe(true);
      expect(server.stderr()).toBe('');
    }, 60_000);

    it('after(): TERM right after 10 concurrent requests: the workers finish the pending work, then exit 0', async () => {
      const server = await startForkserve(['--graceful-timeout', '10'], env);
      await until(() => bootedPids(server).length, (n) => n === 2, 'two "Booting worker" lines');
      await afterRequests(server, true);
      const pending = ids().length; // each waits 300 ms after its response: few or none are written yet
      server.kill('SIGTERM');
      const exit = await exitWithin(server, 20_000);
      expect(exit, server.stdout() + server.stderr()).toEqual({ code: 0, signal: null });
      expect(ids(), `${pending} lines were written at the TERM; stdout: ${server.stdout()}\nstderr: ${server.stderr()}`).toEqual(TEN);
      expect(server.stderr()).not.toMatch(/unfinished/);
    }, 60_000);

    it('after(): --max-requests 2 recycles the workers; none leaves its pending work behind', async () => {
      const server = await startForkserve(['--max-requests', '2'], env);
      await until(() => bootedPids(server).length, (n) => n === 2, 'two "Booting worker" lines');
      await afterRequests(server, false);
      expect(await until(ids, (l) => l.length === 10, 'ten lines', 15_000).catch(() => ids()), server.stdout() + server.stderr()).toEqual(TEN);
      // Each worker serves 2 requests and leaves: 10 requests, at least 5 workers.
      expect(new Set(lines().map((l) => l.pid)).size, JSON.stringify(lines())).toBeGreaterThanOrEqual(5);
      expect(server.stdout().match(/served its 2 requests \(--max-requests\): restarting/g)?.length ?? 0, server.stdout()).toBeGreaterThanOrEqual(4);
      server.kill('SIGTERM');
      expect(await exitWithin(server, 20_000), server.stdout() + server.stderr()).toEqual({ code: 0, signal: null });
      expect(ids()).toEqual(TEN);
      expect(server.stderr()).not.toMatch(/unfinished/);
    }, 60_000);

    it('ISR: /isr regenerates', async () => {
      const server = await startForkserve();
      await until(() => bootedPids(server).length, (n) => n === 2, 'two "Booting worker" lines');
      await isrRegenerates(server);
    }, 60_000);
  });

  describe('concurrent-final (a fork per connection)', () => {
    it('answers /, /api/hello, a public file and a /_next/static file as next start does; streams', async () => {
      const server = await startConcurrentFinal();
      await sameAsNextStart(server);
      await streams(server);
      expect(server.stderr()).toBe('');
    }, 60_000);

    it('after(): 10 requests, 10 lines, each written by the child that answered', async () => {
      const server = await startConcurrentFinal([], env);
      await afterRequests(server, false);
      expect(await until(ids, (l) => l.length === 10, 'ten lines', 15_000).catch(() => ids())).toEqual(TEN);
      const pids = new Set(lines().map((l) => l.pid));
      expect(pids.size, JSON.stringify(lines())).toBe(10); // a child per connection
      expect(pids.has(server.pid)).toBe(false);
      expect(server.stderr()).toBe('');
    }, 60_000);

    it('ISR: /isr regenerates', async () => {
      const server = await startConcurrentFinal();
      await isrRegenerates(server);
    }, 60_000);

    // The case examples/nextjs/next.config.js sets cacheMaxMemorySize: 0 for. The parent renders /isr
    // before its first fork; with Next's in-memory cache (the default) every child started with the
    // parent's copy, served it (STALE), regenerated the page into its own memory and exited: /isr
    // showed the parent's page for good. Without the memory copy, each child reads the page from
    // .next/server/ on disk, where the children before it left their regenerations.
    it('ISR with --warm-up /isr (the parent renders the page before forking): /isr still regenerates', async () => {
      const server = await startConcurrentFinal(['--warm-up', '/isr']);
      await isrRegenerates(server);
      expect(server.stderr()).toBe('');
    }, 60_000);

    it("with Next's default in-memory cache, --warm-up /isr is warned of at start-up with the fix", async () => {
      const server = await startConcurrentFinal(['--warm-up', '/isr'], { ...ENV, NEXT_CACHE_MAX_MEMORY_SIZE: String(50 * 1024 * 1024) });
      expect(server.stderr()).toMatch(
        /^warning: Next\.js holds \d+ pages? or fetch(es)? in this process's memory after the warm-up: every child starts with that copy .* Set cacheMaxMemorySize: 0 in next\.config\.js/m,
      );
    }, 60_000);
  });
});
