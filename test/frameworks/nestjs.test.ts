// NestJS 12 (the real @nestjs/core, @nestjs/common and both platform adapters) hosted by forkserve:
// examples/nestjs/express.js and fastify.js export a Promise of the Express or Fastify instance Nest
// has initialised, with its shutdown hooks on (enableShutdownHooks()). Under the pre-fork server
// (forkserve -w 2) and the fork-per-connection server (concurrent-final), for each adapter:
//   - the routes answer with the status, content type and body of Nest's own server (the same file
//     run with node, listening on PORT), which is the reference;
//   - issue 27: a request in flight at the TERM completes (200) and the server exits 0, although
//     Nest's shutdown hook, loaded in the parent before any fork, closes the app and re-raises the
//     TERM in forkserve's master and each of its workers, and in concurrent-final's parent (its
//     children are not signalled). The example's onApplicationShutdown hook writes "<pid> <signal>"
//     to $SHUTDOWN_FILE: which processes ran it.
// Servers are throw-away processes in process groups of their own, killed after each test.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net';
import { SERVING, exitWithin, spawnGroup, startGroup, stopGroups, type GroupProc } from '../helpers/groups';
import { DIST, ROOT, sleep, until } from '../helpers/procs';

// Nest 12 needs Node >= 20 (its engines field) and ships as ES modules only: the examples, CommonJS,
// require() it, which Node does from 20.19 and 22.12 on (process.features.require_module).
const NEST_RUNS_HERE = (process.features as { require_module?: boolean }).require_module === true;

const EXAMPLES = path.join(ROOT, 'examples', 'nestjs');
const ADAPTERS = ['express', 'fastify'] as const;
type Adapter = (typeof ADAPTERS)[number];
const KIND: Record<Adapter, string> = { express: 'Express', fastify: 'Fastify' };

const appSpec = (adapter: Adapter): string => `${path.join(EXAMPLES, `${adapter}.js`)}:app`;

function startForkserve(adapter: Adapter, env?: NodeJS.ProcessEnv): Promise<GroupProc> {
  return startGroup([path.join(DIST, 'forkserve.js'), '-w', '2', '--port', '0', appSpec(adapter)], SERVING, env);
}

function startConcurrentFinal(adapter: Adapter, env?: NodeJS.ProcessEnv): Promise<GroupProc> {
  return startGroup([path.join(DIST, 'concurrent-final.js'), '--port', '0', appSpec(adapter)], SERVING, env);
}

/** Nest's own server: `node examples/nestjs/<adapter>.js` on a free port (it prints nothing: polled until /hello answers). */
async function startStandalone(adapter: Adapter): Promise<GroupProc> {
  const port = await freePort();
  const { handle } = spawnGroup([path.join(EXAMPLES, `${adapter}.js`)], { ...process.env, PORT: String(port) });
  const server = handle(port);
  let exit: string | null = null;
  void server.exited.then((e) => (exit = JSON.stringify(e)));
  await until(
    () => (exit !== null ? Promise.resolve(`exited ${exit}`) : send(port, 'GET', '/hello', undefined, 2_000).then((r) => r.status, (e: Error) => e.message)),
    (v) => v === 200 || String(v).startsWith('exited'),
    `node examples/nestjs/${adapter}.js to answer /hello on port ${port}`,
    30_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; stdout=${server.stdout()} stderr=${server.stderr()}`);
  });
  if (exit !== null) throw new Error(`node examples/nestjs/${adapter}.js exited (${exit}); stdout=${server.stdout()} stderr=${server.stderr()}`);
  return server;
}

/** Worker pids from forkserve's "Booting worker with pid N" lines. */
const bootedPids = (server: GroupProc): number[] => [...server.stdout().matchAll(/^Booting worker with pid (\d+)$/gm)].map((m) => Number(m[1]));
const booted = (server: GroupProc): number => bootedPids(server).length;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One request on a connection of its own, bounded by timeoutMs. */
function send(port: number, method: string, urlPath: string, body?: { type: string; data: string }, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const headers: http.OutgoingHttpHeaders = { connection: 'close' };
    if (body) {
      headers['content-type'] = body.type;
      headers['content-length'] = Buffer.byteLength(body.data);
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath} on port ${port}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body?.data);
  });
}

const show = (r: Reply): string => `${r.status} ${JSON.stringify(r.headers)}\n${r.body.slice(0, 2000)}`;

const JSON_BODY = (data: string): { type: string; data: string } => ({ type: 'application/json', data });

/** The requests compared with Nest's own server. */
const REQUESTS: { name: string; method: string; path: string; body?: { type: string; data: string } }[] = [
  { name: 'GET /hello', method: 'GET', path: '/hello' },
  { name: 'GET /query', method: 'GET', path: '/query?a=1&b=2&b=3' },
  { name: 'POST /echo', method: 'POST', path: '/echo', body: JSON_BODY('{"x":[1,2],"s":"héllo"}') },
  { name: 'POST /echo, bad JSON', method: 'POST', path: '/echo', body: JSON_BODY('{"x":') },
  { name: 'GET /nope', method: 'GET', path: '/nope' },
  { name: 'DELETE /hello', method: 'DELETE', path: '/hello' },
];

const reference: Record<Adapter, Record<string, Reply>> = { express: {}, fastify: {} };

/** What a server printed that it is not expected to print (stdout lines outside `expected`). */
const unexpectedLines = (stdout: string, expected: RegExp[]): string[] => stdout.split('\n').filter((l) => l !== '' && !expected.some((re) => re.test(l)));

const FORKSERVE_LINES = [
  SERVING,
  /^Serving .+ \((Express|Fastify), node interface\) with 2 workers$/,
  /^Booting worker with pid \d+$/,
  /^Shutting down: 2 workers finish what is in flight \(up to \d+ s\)$/,
  /^Stopped\.$/,
];
const CONCURRENT_FINAL_LINES = [
  SERVING,
  /^Serving .+ \((Express|Fastify), node interface\)$/,
  /^Waiting up to \d+ s for 1 child \(TERM or Ctrl-C again: stop now\) \.\.\.$/,
  /^SIGTERM sent by the app to itself \(a shutdown hook re-raising it\): still waiting for the children$/,
  /^Stopped after \d+ connections?\.$/,
];

describe.skipIf(!NEST_RUNS_HERE)('NestJS 12 under forkserve and concurrent-final (examples/nestjs)', () => {
  beforeAll(async () => {
    for (const adapter of ADAPTERS) {
      const nest = await startStandalone(adapter);
      try {
        for (const r of REQUESTS) reference[adapter][r.name] = await send(nest.port, r.method, r.path, r.body);
      } finally {
        nest.killGroup();
      }
      const ref = reference[adapter];
      expect(ref['GET /hello'].body, show(ref['GET /hello'])).toBe('Hello world from NestJS!');
      expect(JSON.parse(ref['GET /query'].body), show(ref['GET /query'])).toEqual({ a: '1', b: ['2', '3'] });
      expect(JSON.parse(ref['POST /echo'].body), show(ref['POST /echo'])).toEqual({ received: { x: [1, 2], s: 'héllo' } });
      expect(ref['POST /echo, bad JSON'].status, show(ref['POST /echo, bad JSON'])).toBe(400);
      expect({ status: ref['GET /nope'].status, body: JSON.parse(ref['GET /nope'].body) }, show(ref['GET /nope'])).toEqual({
        status: 404,
        body: { message: 'Cannot GET /nope', error: 'Not Found', statusCode: 404 },
      });
      expect(ref['DELETE /hello'].status, show(ref['DELETE /hello'])).toBe(404);
      expect(nest.stdout() + nest.stderr(), `node examples/nestjs/${adapter}.js printed`).toBe('');
    }
  }, 90_000);

  afterEach(stopGroups);
  afterAll(stopGroups);

  let dir = '';
  let shutdownFile = '';
  let env: NodeJS.ProcessEnv = process.env;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-nest-'));
    shutdownFile = path.join(dir, 'shutdown.txt');
    env = { ...process.env, SHUTDOWN_FILE: shutdownFile };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The lines the example's onApplicationShutdown hook wrote ("<pid> <signal>"), sorted. */
  const hooksRun = (): string[] => (fs.existsSync(shutdownFile) ? fs.readFileSync(shutdownFile, 'utf8').split('\n').filter(Boolean).sort() : []);

  async function sameAsNest(server: GroupProc, adapter: Adapter): Promise<void> {
    for (const r of REQUESTS) {
      const got = await send(server.port, r.method, r.path, r.body);
      const ref = reference[adapter][r.name];
      expect({ status: got.status, type: got.headers['content-type'], body: got.body }, `${r.name}: ${show(got)}\nNest's own server: ${show(ref)}`).toEqual({
        status: ref.status,
        type: ref.headers['content-type'],
        body: ref.body,
      });
    }
  }

  /** GET /slow (1 s), TERM 200 ms later: the request is answered, the server exits 0, and says nothing unexpected. */
  async function slowRequestSurvivesTerm(server: GroupProc, expectedLines: RegExp[]): Promise<void> {
    const slow = send(server.port, 'GET', '/slow', undefined, 20_000).catch((e: Error) => e);
    await sleep(200);
    server.kill('SIGTERM');
    const [reply, exit] = await Promise.all([slow, exitWithin(server, 20_000)]);
    const said = `stdout:\n${server.stdout()}\nstderr:\n${server.stderr()}`;
    expect(reply instanceof Error ? reply.message : { status: reply.status, body: reply.body }, said).toEqual({ status: 200, body: 'Slow hello from NestJS!' });
    expect((reply as Reply).ms, '/slow answers after a second').toBeGreaterThanOrEqual(900);
    expect(exit, said).toEqual({ code: 0, signal: null });
    expect(server.stderr(), said).not.toMatch(/killed by SIGKILL/);
    expect(server.stderr(), said).toBe('');
    expect(unexpectedLines(server.stdout(), expectedLines), said).toEqual([]);
  }

  for (const adapter of ADAPTERS) {
    describe(`${adapter} adapter`, () => {
      describe('forkserve -w 2', () => {
        it(`answers as Nest's own server (${KIND[adapter]} instance detected)`, async () => {
          const server = await startForkserve(adapter);
          await until(() => booted(server), (n) => n === 2, 'two "Booting worker" lines');
          expect(server.stdout()).toMatch(new RegExp(`^Serving .+ \\(${KIND[adapter]}, node interface\\) with 2 workers$`, 'm'));
          await sameAsNest(server, adapter);
          expect(server.stderr()).toBe('');
          expect(unexpectedLines(server.stdout(), FORKSERVE_LINES), server.stdout()).toEqual([]);
        }, 60_000);

        it('a request in flight at the TERM to the master completes; the master exits 0', async () => {
          const server = await startForkserve(adapter, env);
          await until(() => booted(server), (n) => n === 2, 'two "Booting worker" lines');
          await slowRequestSurvivesTerm(server, FORKSERVE_LINES);
          expect(server.stdout()).toMatch(/^Stopped\.$/m);
          // Nest's shutdown hook ran in the master and in both workers (each got the TERM).
          expect(hooksRun(), server.stdout()).toEqual([server.pid, ...bootedPids(server)].map((pid) => `${pid} SIGTERM`).sort());
        }, 60_000);
      });

      describe('concurrent-final (a fork per connection)', () => {
        it(`answers as Nest's own server (${KIND[adapter]} instance detected)`, async () => {
          const server = await startConcurrentFinal(adapter);
          // (The serving line comes first, the line naming the app just after it.)
          const detected = new RegExp(`^Serving .+ \\(${KIND[adapter]}, node interface\\)$`, 'm');
          await until(() => server.stdout(), (out) => detected.test(out), `the line "Serving ... (${KIND[adapter]}, node interface)"`, 5_000);
          await sameAsNest(server, adapter);
          expect(server.stderr()).toBe('');
          expect(unexpectedLines(server.stdout(), CONCURRENT_FINAL_LINES), server.stdout()).toEqual([]);
        }, 60_000);

        it("a request in flight at concurrent-final's TERM completes; the parent exits 0", async () => {
          const server = await startConcurrentFinal(adapter, env);
          await slowRequestSurvivesTerm(server, CONCURRENT_FINAL_LINES);
          // In the parent only: a child is not signalled at a stop, it finishes its connection.
          expect(hooksRun(), server.stdout()).toEqual([`${server.pid} SIGTERM`]);
          // Nest's hook (loaded in the parent) closed the app and sent the TERM again: the parent
          // went on waiting for the child.
          expect(server.stdout()).toMatch(/^SIGTERM sent by the app to itself \(a shutdown hook re-raising it\): still waiting for the children$/m);
          expect(server.stdout()).toMatch(/^Stopped after \d+ connections?\.$/m);
        }, 60_000);
      });
    });
  }
});
