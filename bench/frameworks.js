#!/usr/bin/env node
// Per-request CPU of each hosted framework under forkserve against the framework's own server
// (issue 27: "per-request CPU of each hosted framework measured against its own server"; what is
// left goes to the performance issue, 29). One run, interleaved rounds, medians of per-round ratios,
// for a busy 2-core machine:
//
//   node bench/frameworks.js                                   (about 5 minutes with the defaults on 2 cores)
//   node bench/frameworks.js --rounds 3 --json bench/results/frameworks-<date>.json
//   node bench/frameworks.js --rounds 1 --duration 1           (a smoke run)
//   node bench/frameworks.js --frameworks express,apollo       (some only)
//   node bench/frameworks.js --from-json bench/results/frameworks-<date>.json   (the table again)
//
// Each framework is served twice, on 127.0.0.1 with keep-alive, with NODE_ENV=production (and
// NEXT_TELEMETRY_DISABLED=1) for both:
//   own        the framework's own one-process server, as its docs run it (below);
//   forkserve  node DIST/forkserve.js -w 1 --host 127.0.0.1 --port 0 <app> (the master and one
//              worker: both are in the CPU figure).
//
//   id                 request                    own server                                  forkserve app
//   express            GET /hello                 node examples/express/app.js (app.listen)     examples/express/app.js:app
//   fastify            GET /hello                 node examples/fastify/app.js (app.listen)     examples/fastify/app.js:app
//   koa                GET /hello                 node examples/koa/app.js (app.listen)         examples/koa/app.js:app
//   hono               GET /hello                 node bench/servers/hono-node-server.mjs       examples/hono/app.mjs:app
//                                                 (@hono/node-server's serve())
//   nest-express       GET /hello                 PORT=N node examples/nestjs/express.js        examples/nestjs/express.js:app
//   nest-fastify       GET /hello                 PORT=N node examples/nestjs/fastify.js        examples/nestjs/fastify.js:app
//   next               GET /api/hello             next start -p N NEXT_DIR                      NEXT_DIR/server.js:app
//   apollo             POST /graphql              node bench/servers/apollo-express.js (the     test/fixtures/apps/apollo.js:app
//                      {"query":"{ slow(ms: 0) }"} fixture's Express app on node:http)
//   apollo-standalone  the same                   node bench/servers/apollo-standalone.js       test/fixtures/apps/apollo.js:app
//                                                 (Apollo's startStandaloneServer, no Express,
//                                                 the fixture's schema and resolvers)
// "apollo" compares the same app code (Express 5 + expressMiddleware); "apollo-standalone" compares
// forkserve hosting that app with Apollo's own server, which has no Express in front of it.
// Servers that print "Serving HTTP on port N" get --port 0 / PORT=0; Nest and Next print no port, so
// they get a free port found here (listen on 0, close) and are polled until they answer.
// Next.js needs a build: NEXT_DIR is --next-dir (default examples/nextjs); when NEXT_DIR/.next/BUILD_ID
// is missing the script runs `next build NEXT_DIR` once (up to 10 minutes) before the rounds, and
// if that fails Next is recorded as not measured with the reason. `npm test` rebuilds
// examples/nextjs/.next: a run beside a test run can use a copy, e.g. NEXT_DIR=/tmp/fw/next/examples/nextjs
// with /tmp/fw/next/node_modules a symlink to the checkout's node_modules (Next resolves its modules
// from the app's directory upwards); the build's BUILD_ID is checked every round.
//
// Each round runs every framework once on both servers, own and forkserve next to each other (own
// first in odd rounds, forkserve first in even ones; the order of the frameworks rotates by one each
// round). Each server is started fresh (detached, in its own process group), then:
//  1. one request (curl-like, a fresh connection): status 200, and its body is kept; after the run,
//     a forkserve body that differs from the own server's in the same round drops that round's ratios
//     (a note says so);
//  2. warm-up: wrk -t1 -c10 -d<warmup>s with the same request (POST: a wrk Lua script in a temporary
//     file);
//  3. wrk -t1 -c10 -d<duration>s --latency, with the CPU of the server's whole process tree (utime +
//     stime of the server and every descendant, reaped ones through cutime + cstime, from
//     /proc/<pid>/stat: bench/lib/proc.js cpuTree) read 200 ms before and 200 ms after: CPU µs per
//     request = the delta / wrk's requests; also req/s, p50/p99, failed (socket errors + non-2xx),
//     and the CPU other processes on the machine used meanwhile (busy time from /proc/stat minus the
//     server tree, wrk and this script);
//  4. stop: SIGTERM to the group, 3 s, SIGKILL, then every descendant seen.
// Per round: CPU ratio = own µs/req ÷ forkserve µs/req (> 1: forkserve cheaper per request) and
// req/s ratio = forkserve req/s ÷ own req/s; the table gives the medians over the rounds (min–max).
// The forkserve figure includes its master's CPU (shown apart in the second table).
//
// Options: --rounds 3 --duration 3 --warmup 1 (seconds) --connections 10
// --frameworks express,fastify,koa,hono,nest-express,nest-fastify,next,apollo,apollo-standalone
// --dist DIR (forkserve's built dist/ to run, default ./dist; the addon is loaded from
// DIR/../build/Release/forkserve.node, so a copy laid out as /tmp/x/dist + /tmp/x/build/Release/
// keeps a run safe from a rebuild of the checkout) --next-dir DIR --max-minutes 20 (a round that
// would not end before it is skipped) --json FILE (the whole run) --from-json FILE (print the tables
// of an earlier run). Tables to stdout, progress to stderr. Linux only (/proc); needs wrk and
// `npm run build`.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const P = require('./lib/proc');
const { round2 } = require('./lib/load');
const { finite, median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const NODE = process.execPath;

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '10' },
    frameworks: { type: 'string', default: 'express,fastify,koa,hono,nest-express,nest-fastify,next,apollo,apollo-standalone' },
    dist: { type: 'string', default: path.join(ROOT, 'dist') },
    'next-dir': { type: 'string', default: path.join(ROOT, 'examples', 'nextjs') },
    'max-minutes': { type: 'string', default: '20' },
    json: { type: 'string' },
    'from-json': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  const head = fs.readFileSync(__filename, 'utf8').split("'use strict'")[0];
  process.stdout.write(head.split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}

const DIST = path.resolve(opt.dist);
const NEXT_DIR = path.resolve(opt['next-dir']);
const rel = (p) => (path.relative(ROOT, p).startsWith('..') ? p : path.relative(ROOT, p));

const GRAPHQL_BODY = JSON.stringify({ query: '{ slow(ms: 0) }' });
const GET_HELLO = { method: 'GET', path: '/hello' };
const POST_GRAPHQL = { method: 'POST', path: '/graphql', body: GRAPHQL_BODY, headers: { 'content-type': 'application/json' } };

// own: { args, env, port: 'line' (prints the serving line; port 0) | 'poll' (given a free port) }
const FRAMEWORKS = {
  express: {
    label: 'Express 5', request: GET_HELLO, app: 'examples/express/app.js:app',
    own: { label: 'app.listen (node:http)', build: () => ({ args: ['examples/express/app.js'], env: { PORT: '0' }, port: 'line' }) },
  },
  fastify: {
    label: 'Fastify 5', request: GET_HELLO, app: 'examples/fastify/app.js:app',
    own: { label: 'app.listen (Fastify)', build: () => ({ args: ['examples/fastify/app.js'], env: { PORT: '0' }, port: 'line' }) },
  },
  koa: {
    label: 'Koa 3', request: GET_HELLO, app: 'examples/koa/app.js:app',
    own: { label: 'app.listen (node:http)', build: () => ({ args: ['examples/koa/app.js'], env: { PORT: '0' }, port: 'line' }) },
  },
  hono: {
    label: 'Hono 4', request: GET_HELLO, app: 'examples/hono/app.mjs:app',
    own: { label: '@hono/node-server', build: () => ({ args: ['bench/servers/hono-node-server.mjs', '--port', '0', '--host', '127.0.0.1'], port: 'line' }) },
  },
  'nest-express': {
    label: 'NestJS 12 (Express)', request: GET_HELLO, app: 'examples/nestjs/express.js:app',
    own: { label: 'nestApp.listen', build: (port) => ({ args: ['examples/nestjs/express.js'], env: { PORT: String(port) }, port: 'poll' }) },
  },
  'nest-fastify': {
    label: 'NestJS 12 (Fastify)', request: GET_HELLO, app: 'examples/nestjs/fastify.js:app',
    own: { label: 'nestApp.listen', build: (port) => ({ args: ['examples/nestjs/fastify.js'], env: { PORT: String(port) }, port: 'poll' }) },
  },
  next: {
    label: 'Next.js 16', request: { method: 'GET', path: '/api/hello' }, app: `${path.join(NEXT_DIR, 'server.js')}:app`,
    own: { label: 'next start', build: (port) => ({ args: [nextBin(), 'start', '-p', String(port), '-H', '127.0.0.1', NEXT_DIR], port: 'poll' }) },
  },
  apollo: {
    label: 'Apollo Server 5 (Express 5)', request: POST_GRAPHQL, app: 'test/fixtures/apps/apollo.js:app',
    own: { label: 'the same app on node:http', build: () => ({ args: ['bench/servers/apollo-express.js', '--port', '0', '--host', '127.0.0.1'], port: 'line' }) },
  },
  'apollo-standalone': {
    label: 'Apollo Server 5, standalone', request: POST_GRAPHQL, app: 'test/fixtures/apps/apollo.js:app',
    own: { label: 'startStandaloneServer', build: () => ({ args: ['bench/servers/apollo-standalone.js', '--port', '0', '--host', '127.0.0.1'], port: 'line' }) },
  },
};
const SIDES = ['own', 'forkserve'];

function nextBin() {
  return require.resolve('next/dist/bin/next', { paths: [NEXT_DIR, ROOT] });
}
function forkserveArgs(fw) {
  return [path.join(DIST, 'forkserve.js'), '-w', '1', '--host', '127.0.0.1', '--port', '0', FRAMEWORKS[fw].app];
}

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const ROUNDS = Number(opt.rounds);
const DURATION = Number(opt.duration);
const WARMUP = Number(opt.warmup);
const CONNS = Number(opt.connections);
const FW_IDS = list(opt.frameworks);
for (const f of FW_IDS) if (!FRAMEWORKS[f]) throw new Error(`unknown framework ${f} (${Object.keys(FRAMEWORKS).join(', ')})`);
if (!(ROUNDS >= 1) || !(DURATION > 0) || !(CONNS >= 1) || !(WARMUP >= 0)) throw new Error('bad --rounds, --duration, --warmup or --connections');
const OTHER_NOTE_MS = 100 * (DURATION + 0.4); // 10% of one core
const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100);
const T_START = Date.now();
const DEADLINE = T_START + Number(opt['max-minutes']) * 60_000;
const SERVER_ENV = { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1' };

const notes = [];
function log(text) {
  process.stderr.write(`[${((Date.now() - T_START) / 1000).toFixed(0).padStart(4)}s] ${text}\n`);
}
function note(text) {
  notes.push(text);
  log(`note: ${text}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rN = (x, n) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10 ** n) / 10 ** n : null);
const stats = (a) => ({ median: median(a), min: finite(a).length ? Math.min(...finite(a)) : null, max: finite(a).length ? Math.max(...finite(a)) : null, n: finite(a).length });

// ------------------------------------------------------------------------------------------------
// Processes

const everyPid = new Set(); // every server process seen: swept at the end
const tmpFiles = new Set();
process.on('exit', () => {
  for (const f of tmpFiles) fs.rmSync(f, { force: true });
});

function sweep() {
  P.killAll();
  const left = [...everyPid].filter(P.alive);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  return left;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    sweep();
    process.exit(130);
  });
}

/** A free TCP port on 127.0.0.1 (listen on 0, close): for servers that cannot be told port 0. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One request on a fresh connection: { status, body } or { error }. */
function request(port, r, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const headers = { ...(r.headers || {}) };
    if (r.body !== undefined) headers['content-length'] = Buffer.byteLength(r.body);
    const req = http.request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (e) => resolve({ error: e.code || e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
    req.end(r.body);
  });
}

/**
 * Starts a server detached (its own process group). port 'line': resolves at the first stdout line
 * with "Serving HTTP on port N" (lines before it are allowed: Next prints one); 'poll': the server was
 * given `port` and is polled with `req` until it answers. workers: then waits for that many live
 * children. Rejects with the tail of its stderr.
 */
function startServer({ name, args, env, port, workers, req, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const proc = spawn(NODE, args, { cwd: ROOT, env: { ...SERVER_ENV, ...(env || {}) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (proc.pid) {
      P.live.set(proc.pid, { name, proc, detached: true });
      proc.once('exit', () => P.live.delete(proc.pid));
      everyPid.add(proc.pid);
    }
    let out = '';
    let err = '';
    let done = false;
    let exited = null;
    const spec = { name, detached: true };
    const fail = (why) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const tree = proc.pid ? P.descendants(proc.pid).map((c) => c.pid) : [];
      if (proc.pid) {
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {}
      }
      for (const pid of tree) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      reject(new Error(`${name}: ${why}${err.trim() ? `\n  stderr: ${err.trim().split('\n').slice(-5).join('\n  ')}` : ''}`));
    };
    const ready = async (p) => {
      if (workers) {
        const until = Date.now() + timeoutMs;
        while (P.children(proc.pid).filter((c) => !c.stat.startsWith('Z')).length < workers && Date.now() < until && !done) await sleep(50);
      }
      if (done) return;
      done = true;
      clearTimeout(timer);
      proc.off('exit', onEarlyExit);
      resolve({ spec, proc, pid: proc.pid, port: p, stderrTail: () => err });
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    proc.on('error', (e) => fail(String(e)));
    const onEarlyExit = (code, signal) => {
      exited = { code, signal };
      setTimeout(() => fail(`exited early (code ${code}, signal ${signal})`), 100); // let stderr drain
    };
    proc.on('exit', onEarlyExit);
    proc.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    proc.stdout.on('data', (d) => {
      if (done || port !== 'line') return;
      out = (out + d).slice(-8000);
      const m = /^Serving HTTP on port (\d+)/m.exec(out);
      if (m) ready(Number(m[1]));
    });
    if (port !== 'line') {
      (async () => {
        while (!done && !exited) {
          const r = await request(port, req, 2000);
          if (done || exited) return;
          if (!r.error) return ready(port);
          await sleep(200);
        }
      })();
    }
  });
}

async function stop(s, what) {
  for (const d of P.descendants(s.pid)) everyPid.add(d.pid);
  const r = await P.stopServer(s, { graceMs: 3000 });
  if (!r.graceful) note(`${what}: did not exit within 3 s of SIGTERM; SIGKILLed`);
  if (r.killed.length) note(`${what}: ${r.killed.length} process(es) alive after the server exited, SIGKILLed (${r.killed.join(', ')})`);
  if (r.leftovers.length) note(`${what}: leftover processes ${r.leftovers.join(', ')}`);
}

// ------------------------------------------------------------------------------------------------
// Load

function wrkScript(r) {
  if (r.method === 'GET' && !r.body && !r.headers) return null;
  const file = path.join(os.tmpdir(), `forkserve-frameworks-${process.pid}-${r.method}-${r.path.replace(/\W/g, '_')}.lua`);
  if (!tmpFiles.has(file)) {
    const lua = [`wrk.method = ${JSON.stringify(r.method)}`];
    if (r.body !== undefined) lua.push(`wrk.body = ${JSON.stringify(r.body)}`);
    for (const [k, v] of Object.entries(r.headers || {})) lua.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
    fs.writeFileSync(file, lua.join('\n') + '\n');
    tmpFiles.add(file);
  }
  return file;
}

const num = (re, text) => {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
};
const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
function wrkTime(re, text) {
  const m = re.exec(text);
  return m ? round2(Number(m[1]) * UNIT_MS[m[2]]) : null;
}

/** wrk -t1 -c<c> -d<s>s --latency [-s script]: bench/lib/load.js's wrk() with a request script. */
async function wrk(url, r, { seconds, concurrency }) {
  const script = wrkScript(r);
  const args = ['-t', '1', '-c', String(concurrency), '-d', `${seconds}s`, '--latency', '--timeout', '5s', ...(script ? ['-s', script] : []), url];
  const res = await P.run('wrk', args, { timeoutMs: (seconds + 30) * 1000 });
  const out = res.stdout;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const w = {
    ok: res.code === 0 && /Requests\/sec/.test(out),
    rps: num(/Requests\/sec:\s+([\d.]+)/, out),
    requests: num(/(\d+) requests in/, out),
    failed: (sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0) + (num(/Non-2xx or 3xx responses:\s+(\d+)/, out) ?? 0),
    p50: wrkTime(/^\s+50%\s+([\d.]+)(us|ms|s|m)\b/m, out),
    p99: wrkTime(/^\s+99%\s+([\d.]+)(us|ms|s|m)\b/m, out),
  };
  if (!w.ok) w.error = res.timedOut ? 'wrk timed out' : `wrk exited ${res.code}: ${String(res.stderr || out).trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`;
  return w;
}

/** CPU time the whole machine has been busy (all cores, /proc/stat), ms. */
function machineBusyMs() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)) * TICK_MS;
  } catch {
    return null;
  }
}
/** This process's CPU and its reaped children's (wrk, ps), ms. */
function benchMs() {
  const t = P.cpuTicks(process.pid);
  return (t.utime + t.stime + t.cutime + t.cstime) * TICK_MS;
}
const cpuMs = (pid) => {
  const t = P.cpuTree(pid);
  return { self: t.self * TICK_MS, children: t.children * TICK_MS };
};

// ------------------------------------------------------------------------------------------------
// One measurement

let nextBuildId = null;
function readBuildId() {
  try {
    return fs.readFileSync(path.join(NEXT_DIR, '.next', 'BUILD_ID'), 'utf8').trim();
  } catch {
    return null;
  }
}

/** One framework on one server: start, check, warm up, wrk, stop. Never rejects. */
async function measure(fw, side, round) {
  const F = FRAMEWORKS[fw];
  const what = `r${round} ${fw} ${side}`;
  const row = { round, framework: fw, side, loadavg1: rN(os.loadavg()[0], 2) };
  if (fw === 'next') {
    const id = readBuildId();
    if (id !== nextBuildId) note(`${what}: ${NEXT_DIR}/.next/BUILD_ID is ${JSON.stringify(id)}, not ${JSON.stringify(nextBuildId)} as at the start (rebuilt meanwhile)`);
  }
  let spec;
  if (side === 'own') {
    const port = await freePort();
    const b = F.own.build(port);
    spec = { name: what, args: b.args, env: b.env, port: b.port === 'poll' ? port : 'line', req: F.request, timeoutMs: 60_000 };
  } else {
    spec = { name: what, args: forkserveArgs(fw), port: 'line', workers: 1, req: F.request, timeoutMs: 60_000 };
  }
  const t0 = Date.now();
  let s;
  try {
    s = await startServer(spec);
  } catch (err) {
    note(`${what}: ${err.message}`);
    return { ...row, error: err.message.split('\n')[0] };
  }
  row.startMs = Date.now() - t0;
  for (const d of P.descendants(s.pid)) everyPid.add(d.pid);
  try {
    const check = await request(s.port, F.request);
    row.checkStatus = check.status ?? null;
    row.checkBody = check.body ?? null;
    if (check.status !== 200) {
      note(`${what}: ${F.request.method} ${F.request.path} answered ${JSON.stringify(check).slice(0, 300)}`);
      return { ...row, error: `bad answer ${JSON.stringify(check).slice(0, 200)}` };
    }
    const url = `http://127.0.0.1:${s.port}${F.request.path}`;
    if (WARMUP > 0) {
      const w0 = await wrk(url, F.request, { seconds: WARMUP, concurrency: CONNS });
      if (!w0.ok) note(`${what}: warm-up ${w0.error}`);
    }
    await sleep(200);
    const before = cpuMs(s.pid);
    const busy0 = machineBusyMs();
    const bench0 = benchMs();
    const w = await wrk(url, F.request, { seconds: DURATION, concurrency: CONNS });
    await sleep(200);
    const after = cpuMs(s.pid);
    const busy1 = machineBusyMs();
    const bench1 = benchMs();
    for (const d of P.descendants(s.pid)) everyPid.add(d.pid);
    const selfMs = after.self - before.self;
    const childMs = after.children - before.children;
    Object.assign(row, {
      ok: w.ok, rps: w.rps, requests: w.requests, failed: w.failed, p50Ms: w.p50, p99Ms: w.p99,
      cpuSelfMs: rN(selfMs, 0), cpuChildrenMs: rN(childMs, 0),
      cpuUsPerRequest: w.requests ? rN(((selfMs + childMs) * 1000) / w.requests, 1) : null,
      // forkserve: the master's share (its own utime + stime; the worker is its child)
      masterUsPerRequest: side === 'forkserve' && w.requests ? rN((selfMs * 1000) / w.requests, 1) : null,
      otherCpuMs: busy0 === null ? null : rN(busy1 - busy0 - (selfMs + childMs) - (bench1 - bench0), 0),
      error: w.ok ? undefined : w.error,
    });
    if (!w.ok || w.failed) note(`${what}: wrk ${w.ok ? `${w.failed} failed` : w.error}`);
    if (row.otherCpuMs > OTHER_NOTE_MS) note(`${what}: ${row.otherCpuMs} ms of CPU used by other processes during the ${DURATION + 0.4} s measured`);
    log(`${what.padEnd(30)} ${String(w.rps).padStart(9)} req/s  p50 ${w.p50} ms  p99 ${w.p99} ms  CPU ${row.cpuUsPerRequest} µs/req (self ${row.cpuSelfMs} ms, children ${row.cpuChildrenMs} ms), others ${row.otherCpuMs} ms`);
  } finally {
    await stop(s, what);
  }
  return row;
}

// ------------------------------------------------------------------------------------------------
// Summary and tables

function summarize(doc) {
  const good = (r) => r && !r.error && r.ok && r.requests > 0;
  const out = [];
  const excluded = [];
  for (const fw of doc.frameworks) {
    const own = doc.rows.filter((r) => r.framework === fw && r.side === 'own');
    const fs_ = doc.rows.filter((r) => r.framework === fw && r.side === 'forkserve');
    const cpuRatio = [];
    const rpsRatio = [];
    const okOwn = [];
    const okFs = [];
    for (const round of [...new Set(doc.rows.map((r) => r.round))]) {
      const a = own.find((r) => r.round === round);
      const b = fs_.find((r) => r.round === round);
      if (good(a)) okOwn.push(a);
      if (!good(a) || !good(b)) continue;
      if (a.checkBody !== b.checkBody) {
        excluded.push(`${fw} round ${round}: forkserve answered ${JSON.stringify(b.checkBody).slice(0, 120)}, the own server ${JSON.stringify(a.checkBody).slice(0, 120)}: ratios left out`);
        continue;
      }
      okFs.push(b);
      if (a.cpuUsPerRequest && b.cpuUsPerRequest) cpuRatio.push(a.cpuUsPerRequest / b.cpuUsPerRequest);
      if (a.rps && b.rps) rpsRatio.push(b.rps / a.rps);
    }
    const errors = [...own, ...fs_].filter((r) => r.error).map((r) => `r${r.round} ${r.side}: ${r.error}`);
    out.push({
      framework: fw, label: FRAMEWORKS[fw] ? FRAMEWORKS[fw].label : fw, ownLabel: FRAMEWORKS[fw] ? FRAMEWORKS[fw].own.label : null,
      measured: cpuRatio.length > 0,
      rounds: cpuRatio.length,
      own: { cpuUsPerRequest: rN(median(okOwn.map((r) => r.cpuUsPerRequest)), 1), rps: rN(median(okOwn.map((r) => r.rps)), 0), p50Ms: rN(median(okOwn.map((r) => r.p50Ms)), 2), p99Ms: rN(median(okOwn.map((r) => r.p99Ms)), 2), failed: own.reduce((s, r) => s + (r.failed || 0), 0), otherCpuMs: rN(median(okOwn.map((r) => r.otherCpuMs)), 0) },
      forkserve: { cpuUsPerRequest: rN(median(okFs.map((r) => r.cpuUsPerRequest)), 1), masterUsPerRequest: rN(median(okFs.map((r) => r.masterUsPerRequest)), 1), rps: rN(median(okFs.map((r) => r.rps)), 0), p50Ms: rN(median(okFs.map((r) => r.p50Ms)), 2), p99Ms: rN(median(okFs.map((r) => r.p99Ms)), 2), failed: fs_.reduce((s, r) => s + (r.failed || 0), 0), otherCpuMs: rN(median(okFs.map((r) => r.otherCpuMs)), 0) },
      cpuRatio: { ...stats(cpuRatio), median: rN(median(cpuRatio), 3), min: rN(stats(cpuRatio).min, 3), max: rN(stats(cpuRatio).max, 3) },
      rpsRatio: { ...stats(rpsRatio), median: rN(median(rpsRatio), 3), min: rN(stats(rpsRatio).min, 3), max: rN(stats(rpsRatio).max, 3) },
      errors,
    });
  }
  return { table: out, excluded };
}

function markdown(doc) {
  const f = (x, n = 0) => (x === null || x === undefined ? 'n/a' : n ? x.toFixed(n) : Math.round(x).toLocaleString('en-US'));
  const ratio = (r) => (r.median === null ? 'n/a' : r.n > 1 ? `${f(r.median, 2)} (${f(r.min, 2)}–${f(r.max, 2)})` : f(r.median, 2));
  const out = [];
  out.push(`wrk -t1 -c${doc.connections} -d${doc.duration}s (keep-alive), ${doc.rounds} interleaved round(s); own = the framework's own one-process server, forkserve = \`forkserve -w 1\` (master + one worker); CPU: µs per request of the server's whole process tree (median over rounds); CPU ratio = own ÷ forkserve per round (> 1: forkserve cheaper), req/s ratio = forkserve ÷ own per round: medians (min–max).`, '');
  out.push('| framework | own µs/req | forkserve µs/req | CPU ratio | req/s own | req/s forkserve | ratio |', '|---|---|---|---|---|---|---|');
  const missing = [];
  for (const x of doc.summary.table) {
    if (!x.measured) {
      out.push(`| ${x.framework} | not measured | | | | | |`);
      missing.push(x);
      continue;
    }
    out.push(`| ${x.framework} | ${f(x.own.cpuUsPerRequest, 1)} | ${f(x.forkserve.cpuUsPerRequest, 1)} | ${ratio(x.cpuRatio)} | ${f(x.own.rps)} | ${f(x.forkserve.rps)} | ${ratio(x.rpsRatio)} |`);
  }
  out.push('');
  out.push('Own servers and details: forkserve − own = the difference of the two medians above; forkserve master = the master\'s share of forkserve\'s µs/req; p50 (median); failed = wrk socket errors + non-2xx, summed over rounds; others = CPU ms other processes used during the run (median).', '');
  out.push('| framework | own server | forkserve − own µs/req | forkserve master µs/req | p50 ms own | p50 ms forkserve | failed own / forkserve | others ms own / forkserve |', '|---|---|---|---|---|---|---|---|');
  for (const x of doc.summary.table) {
    if (!x.measured) continue;
    const extra = x.own.cpuUsPerRequest === null || x.forkserve.cpuUsPerRequest === null ? null : x.forkserve.cpuUsPerRequest - x.own.cpuUsPerRequest;
    out.push(`| ${x.framework} (${x.label}) | ${x.ownLabel} | ${f(extra, 1)} | ${f(x.forkserve.masterUsPerRequest, 1)} | ${f(x.own.p50Ms, 2)} | ${f(x.forkserve.p50Ms, 2)} | ${x.own.failed} / ${x.forkserve.failed} | ${f(x.own.otherCpuMs)} / ${f(x.forkserve.otherCpuMs)} |`);
  }
  out.push('');
  if (missing.length) {
    out.push('Not measured:', '');
    for (const x of missing) out.push(`- ${x.framework}: ${x.errors.length ? [...new Set(x.errors.map((e) => e.replace(/^r\d+ /, '')))].join('; ') : doc.skipped && doc.skipped[x.framework] ? doc.skipped[x.framework] : 'no round with both servers measured'}`);
    out.push('');
  }
  // "other processes used ..." notes: one line for all of them (each is in the JSON's notes)
  const busyRe = /^r\d+ .*: (\d+) ms of CPU used by other processes/;
  const busy = doc.notes.map((n) => busyRe.exec(n)).filter(Boolean).map((m) => Number(m[1]));
  const others = doc.notes.filter((n) => !busyRe.test(n));
  const runs = doc.rows.filter((r) => r.ok).length;
  if (doc.summary.excluded.length || others.length || busy.length) {
    out.push('Notes:', '');
    for (const n of doc.summary.excluded) out.push(`- ${n}`);
    for (const n of others) out.push(`- ${n}`);
    if (busy.length) out.push(`- other processes used more than 10% of a core during ${busy.length} of the ${runs} measured runs (${f(median(busy))} ms median, ${f(Math.max(...busy))} ms max, of CPU over the ${f(doc.duration + 0.4, 1)} s measured; every run's figure is in the JSON)`);
    out.push('');
  }
  return out.join('\n');
}

// ------------------------------------------------------------------------------------------------

/** Next.js: a build must be there (or is made once); returns null when ready, else the reason. */
async function prepareNext() {
  try {
    nextBin();
  } catch (err) {
    return `next is not installed (${err.message.split('\n')[0]})`;
  }
  if (!fs.existsSync(path.join(NEXT_DIR, 'server.js'))) return `${NEXT_DIR}/server.js is missing`;
  nextBuildId = readBuildId();
  if (nextBuildId) return null;
  log(`Next.js: ${NEXT_DIR}/.next/BUILD_ID is missing: next build ${NEXT_DIR} (up to 10 minutes)`);
  const b = await P.run(NODE, [nextBin(), 'build', NEXT_DIR], { cwd: ROOT, env: SERVER_ENV, timeoutMs: 600_000 });
  nextBuildId = readBuildId();
  if (b.code !== 0 || !nextBuildId) {
    const tail = String(b.stderr || b.stdout).trim().split('\n').slice(-3).join(' | ').slice(0, 400);
    return `next build ${rel(NEXT_DIR)} failed (${b.timedOut ? 'timed out' : `exit ${b.code}`}): ${tail}`;
  }
  note(`built Next.js (${rel(NEXT_DIR)}) in ${(b.ms / 1000).toFixed(0)} s before the rounds`);
  return null;
}

async function main() {
  if (opt['from-json']) {
    process.stdout.write(markdown(JSON.parse(fs.readFileSync(opt['from-json'], 'utf8'))) + '\n');
    return;
  }
  if (!fs.existsSync(path.join(DIST, 'forkserve.js'))) throw new Error(`${DIST}/forkserve.js is missing: npm run build (or --dist DIR)`);
  if (!fs.existsSync(path.join(DIST, '..', 'build', 'Release', 'forkserve.node'))) throw new Error(`${path.join(DIST, '..', 'build', 'Release', 'forkserve.node')} is missing: the addon must be beside --dist as ../build/Release/forkserve.node`);
  if (!P.which('wrk')) throw new Error('wrk is not installed (apt-get install -y wrk)');
  const loadavgStart = os.loadavg().map((x) => rN(x, 2));
  log(`frameworks bench: ${FW_IDS.join(',')}; ${ROUNDS} rounds of ${DURATION} s, -c${CONNS}; dist ${DIST}; load avg ${loadavgStart.join(' ')}`);
  const skipped = {};
  let fws = [...FW_IDS];
  if (fws.includes('next')) {
    const why = await prepareNext();
    if (why) {
      skipped.next = why;
      note(`next: not measured: ${why}`);
      fws = fws.filter((x) => x !== 'next');
    }
  }
  const rows = [];
  let roundsRun = 0;
  let lastRoundMs = fws.length * 2 * (4 + WARMUP + DURATION) * 1000;
  for (let round = 1; round <= ROUNDS && fws.length; round++) {
    if (round > 1 && DEADLINE - Date.now() < lastRoundMs * 1.2 + 15_000) {
      note(`rounds ${round}..${ROUNDS} skipped (deadline --max-minutes ${opt['max-minutes']})`);
      break;
    }
    const r0 = Date.now();
    const k = (round - 1) % fws.length;
    const order = [...fws.slice(k), ...fws.slice(0, k)];
    const sides = round % 2 ? SIDES : [...SIDES].reverse();
    log(`round ${round}/${ROUNDS}: ${order.join(', ')}; ${sides[0]} first`);
    for (const fw of order) for (const side of sides) rows.push(await measure(fw, side, round));
    roundsRun = round;
    lastRoundMs = Date.now() - r0;
  }
  const left = sweep();
  if (left.length) note(`sweep: SIGKILLed leftover processes ${left.join(', ')}`);
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' });
  const versions = {};
  for (const [k, m] of [['express', 'express'], ['fastify', 'fastify'], ['koa', 'koa'], ['hono', 'hono'], ['@hono/node-server', '@hono/node-server'], ['@nestjs/core', '@nestjs/core'], ['next', 'next'], ['@apollo/server', '@apollo/server']]) {
    try {
      versions[k] = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', m, 'package.json'), 'utf8')).version;
    } catch {}
  }
  const doc = {
    bench: 'frameworks',
    startedAt: new Date(T_START).toISOString(),
    minutes: rN((Date.now() - T_START) / 60_000, 1),
    node: process.version,
    commit: (git.stdout || '').trim() || null,
    srcModified: (dirty.stdout || '').trim().split('\n').filter(Boolean),
    machine: { cpus: os.cpus().length, model: (os.cpus()[0] || {}).model, release: os.release(), loadavgStart, loadavgEnd: os.loadavg().map((x) => rN(x, 2)) },
    command: `node bench/frameworks.js${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`,
    options: opt,
    dist: DIST,
    nextDir: NEXT_DIR,
    nextBuildId,
    versions,
    frameworks: FW_IDS,
    serverCommands: Object.fromEntries(FW_IDS.map((fw) => {
      const b = FRAMEWORKS[fw].own.build('PORT');
      const own = `${b.env ? Object.entries(b.env).map(([k, v]) => `${k}=${v} `).join('') : ''}node ${b.args.map((a) => rel(a)).join(' ')}`;
      return [fw, { request: FRAMEWORKS[fw].request, own, forkserve: `node ${forkserveArgs(fw).map((a) => rel(a)).join(' ')}` }];
    })),
    env: { NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1' },
    connections: CONNS,
    duration: DURATION,
    warmup: WARMUP,
    rounds: roundsRun,
    clockTickMs: TICK_MS,
    skipped,
    rows,
    notes,
  };
  doc.summary = summarize(doc);
  if (opt.json) {
    fs.mkdirSync(path.dirname(path.resolve(opt.json)), { recursive: true });
    fs.writeFileSync(opt.json, JSON.stringify(doc, null, 2) + '\n');
    log(`wrote ${opt.json}`);
  }
  process.stdout.write(markdown(doc) + '\n');
  log(`done in ${doc.minutes} minutes`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  sweep();
  process.exit(1);
});
