#!/usr/bin/env node
// The benchmark suite (issue 6): one command compares forkserve with the Python tutorial server,
// Python's ForkingMixIn, gunicorn, node:http and cluster, and writes tables and a chart.
//
//   npm run bench            (= node bench/suite.js; about 21 minutes on 2 cores, deadline 28)
//   node bench/suite.js --requests 300 --concurrency 10 --rounds 1 --duration 3 \
//     --long-child-seconds 15 --fork-cycles 200,50,30 --out /tmp/bench-smoke   (about 2 minutes)
//   node bench/suite.js --list                  (the servers; --only / --skip take their ids)
//
// For every server, every round (servers interleaved: A B C ... A B C ...): start it on 127.0.0.1,
// port 0 (the port is read from its first stdout line, "Serving HTTP on port N ..."), warm it
// (ab -n --warmup -c 10), load it with `ab -n --requests -c --concurrency`, read its state after the
// run (zombies from `ps -o pid=,stat= --ppid <pid>`, fds from /proc/<pid>/fd, RSS, CPU from
// /proc/<pid>/stat), sample one child's memory from /proc/<pid>/smaps_rollup while it is alive,
// measure connect -> first byte latency (a few servers), then a second tool (wrk, else autocannon:
// keep-alive, --duration seconds) for the servers whose responses carry a Content-Length, and stop
// the server by PID (SIGTERM, then SIGKILL for it and anything it left). Then the micro benchmarks
// (fork latency against the parent's heap: bench/fork-heap.js) and one long-lived forked child
// (bench/long-child.js) with its control (the same server spawned, not forked).
// bench/README.md describes every server, step, option and column.
//
// Every step has a timeout, the whole run a deadline (--max-minutes): what does not fit is skipped
// and said so. A missing tool (gunicorn, wrk, python3 ...) skips what needs it, with a note. On
// SIGINT/SIGTERM every process the suite started is killed by PID.
//
// Output: <out>/<date>.json (everything), <out>/<date>.md (the tables, also printed on stdout),
// <out>/<date>.svg and <out>/latest.svg (req/s with min-max whiskers, latency p99). <out> defaults
// to bench/results. The suite itself never forks with forkserve (it uses child_process freely).
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const P = require('./lib/proc');
const L = require('./lib/load');
const { chart } = require('./lib/svg');
const { median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const NODE = process.execPath;
const DIST = path.join(ROOT, 'dist');

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '200' },
    duration: { type: 'string', default: '10' },
    tool2: { type: 'string', default: 'auto' },
    'wrk-threads': { type: 'string', default: '1' },
    'run-timeout': { type: 'string', default: '180' },
    'ttfb-samples': { type: 'string', default: '600' },
    'fork-cycles': { type: 'string', default: '1000,300,100' },
    'fork-heaps': { type: 'string', default: '0,100,300' },
    'long-child-seconds': { type: 'string', default: '300' },
    'max-minutes': { type: 'string', default: '28' },
    only: { type: 'string' },
    skip: { type: 'string' },
    'no-micro': { type: 'boolean', default: false },
    'no-long-child': { type: 'boolean', default: false },
    'no-long-child-control': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(__dirname, 'results') },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  process.stdout.write(`Usage: node bench/suite.js [options]    (npm run bench)

  --rounds 3               rounds, servers interleaved (A B C ... A B C ...)
  --requests 5000          ab -n
  --concurrency 50         ab -c, and the connections of the second tool
  --warmup 200             warm-up requests (ab -c 10) after each start
  --duration 10            seconds of each second-tool run (wrk / autocannon)
  --tool2 auto             wrk | autocannon | none (auto: wrk if installed, else autocannon)
  --wrk-threads 1          wrk -t (1: one load thread, like ab)
  --run-timeout 180        seconds before one ab run is killed
  --ttfb-samples 600       connect -> first byte samples per server (spread over the rounds)
  --fork-heaps 0,100,300   parent heap sizes (MB) for the fork latency micro benchmark
  --fork-cycles 1000,300,100  fork+reap cycles at each of those sizes
  --long-child-seconds 300 life of the long-lived child (0: skip it), and of its control
  --no-long-child-control  skip the control (the same server spawned, not forked)
  --max-minutes 28         deadline of the whole run: later steps are skipped, and said so
  --only a,b / --skip a,b  server ids (see --list); --only none: micro benchmarks only
  --no-micro, --no-long-child
  --out bench/results      where <date>.json/.md/.svg and latest.svg go
  --list                   list the servers and exit
`);
  process.exit(0);
}

const ROUNDS = Number(opt.rounds);
const REQUESTS = Number(opt.requests);
const CONCURRENCY = Number(opt.concurrency);
const WARMUP = Number(opt.warmup);
const DURATION = Number(opt.duration);
const RUN_TIMEOUT_MS = Number(opt['run-timeout']) * 1000;
const TTFB_SAMPLES = Number(opt['ttfb-samples']);
const LONG_CHILD_S = Number(opt['long-child-seconds']);
const T_START = Date.now();
const DEADLINE = T_START + Number(opt['max-minutes']) * 60_000;
const CLK_TCK = 100; // Linux USER_HZ (getconf CLK_TCK): /proc/<pid>/stat times are in 1/100 s

const notes = [];
const note = (text) => {
  notes.push(text);
  log(`note: ${text}`);
};
function log(text) {
  const s = ((Date.now() - T_START) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${s}s] ${text}\n`);
}
const timeLeftMs = () => DEADLINE - Date.now();

// ------------------------------------------------------------------------------------------------
// The servers. kind: 'fork' (a process per connection), 'prefork' (workers), 'single' (one
// process), 'iterative'. probe: how a child is kept alive to read its memory: 'keepalive' (one
// request served, the HTTP/1.1 connection held open), 'idle' (connected, nothing sent: the child
// waits for its request), 'worker' (a pre-fork worker), or none. tool2: false when the response is
// close-delimited (no Content-Length), which distorts wrk and autocannon.
const cf = path.join(DIST, 'concurrent-final.js');
const LOOP = ['--port', '0', '--host', '127.0.0.1'];
const SERVERS = [
  {
    id: 'cf-canned', name: 'forkserve concurrent-final --canned', kind: 'fork', needs: [cf],
    cmd: NODE, args: () => [cf, '--canned', '--quiet', ...LOOP], path: '/', tool2: false, probe: 'idle', ttfb: true,
    about: "the tutorial's 31 canned bytes, close-delimited (ab only)",
  },
  {
    id: 'cf-hello', name: 'forkserve concurrent-final, hello app', kind: 'fork', needs: [cf],
    cmd: NODE, args: () => [cf, ...LOOP], path: '/', tool2: true, probe: 'keepalive', ttfb: true,
    about: 'HTTP/1.1 hello app, Content-Length, keep-alive',
  },
  {
    id: 'cf-gateway-hello', name: 'forkserve concurrent-final, hello through the gateway', kind: 'fork', needs: [cf],
    cmd: NODE, args: () => [cf, ...LOOP, path.join(__dirname, 'servers', 'hello-listener.js') + ':app'], path: '/', tool2: true, probe: 'keepalive',
    about: "the hello app's bytes from a (req, res) listener: the evented gateway engine, against cf-hello's blocking loop",
  },
  {
    id: 'ws2-express', name: 'forkserve webserver2 (iterative) + Express', kind: 'iterative', needs: [path.join(DIST, 'webserver2.js')],
    cmd: NODE, args: () => [path.join(DIST, 'webserver2.js'), '--quiet', ...LOOP, '--backlog', '128', 'examples/express/app.js:app'], path: '/hello', tool2: true, probe: null,
    about: "part 2: the gateway, one connection at a time, no keep-alive; backlog 128 (with the tutorial's 5, ab -c 50 times out: SYNs are dropped and retried for seconds)",
  },
  {
    id: 'cf-express', name: 'forkserve concurrent-final + Express', kind: 'fork', needs: [cf],
    cmd: NODE, args: () => [cf, ...LOOP, 'examples/express/app.js:app'], path: '/hello', tool2: true, probe: 'keepalive',
    about: 'the Express example, a fork per connection (3h)',
  },
  {
    id: 'cf-express-warm', name: 'forkserve concurrent-final + Express, warm', kind: 'fork', needs: [cf],
    cmd: NODE, args: () => [cf, ...LOOP, '--warm-up', '/hello', 'examples/express/app.js:app'], path: '/hello', tool2: true, probe: 'keepalive',
    about: 'the same, with /hello requested in the parent before forking: children inherit compiled Express code',
  },
  {
    id: 'node-express', name: 'Express on node:http', kind: 'single', needs: [],
    cmd: NODE, args: () => [path.join(__dirname, 'servers', 'express-node-http.js'), ...LOOP], path: '/hello', tool2: true, probe: null,
    about: 'the same Express app on plain node:http (bench/servers/express-node-http.js)',
  },
  {
    id: 'node-hello', name: 'node:http hello', kind: 'single', needs: [],
    cmd: NODE, args: () => [path.join(__dirname, 'servers', 'node-http-hello.js'), ...LOOP], path: '/', tool2: true, probe: null, ttfb: true,
    about: 'no fork: the baseline (bench/servers/node-http-hello.js)',
  },
  {
    id: 'node-cluster', name: 'node:http cluster, 2 workers', kind: 'prefork', workers: 2, needs: [],
    cmd: NODE, args: () => [path.join(__dirname, 'servers', 'node-cluster-hello.js'), ...LOOP, '--workers', '2'], path: '/', tool2: true, probe: 'worker',
    workerLabel: 'cluster worker (spawned, not forked)',
    about: 'cluster round-robin over 2 spawned workers (bench/servers/node-cluster-hello.js)',
  },
  {
    id: 'py-tutorial', name: 'Python tutorial 3g (canned)', kind: 'fork', needs: ['python3'],
    cmd: 'python3', args: () => [path.join(__dirname, 'python', 'tutorial_fork_server.py'), '0'], path: '/', tool2: false, probe: 'idle', ttfb: true,
    about: "webserver3g.py: fork per connection, the canned bytes, close-delimited (ab only)",
  },
  {
    id: 'py-forking', name: 'Python ForkingMixIn + http.server', kind: 'fork', needs: ['python3'],
    cmd: 'python3', args: () => [path.join(__dirname, 'python', 'forking_mixin_server.py'), '0'], path: '/', tool2: true, probe: 'idle',
    about: 'socketserver.ForkingMixIn, HTTP/1.0, Content-Length',
  },
  {
    id: 'c-floor', name: 'C fork per connection (the floor)', kind: 'fork', needs: ['cc'], build: buildCFloor,
    cmd: null, args: () => ['0'], path: '/', tool2: true, probe: 'idle', ttfb: true,
    about: 'bench/c/fork_hello.c, compiled with cc -O2 into a temporary directory: accept, fork, read, write, _exit; SIGCHLD + waitpid loop (HTTP/1.1, Content-Length, Connection: close)',
  },
  {
    id: 'gunicorn', name: 'gunicorn, 2 sync workers', kind: 'prefork', workers: 2, needs: ['gunicorn'], freePort: true,
    cmd: 'gunicorn',
    args: (ctx) => ['-c', path.join(__dirname, 'python', 'gunicorn_conf.py'), '--chdir', path.join(__dirname, 'python'), '-w', '2', '-k', 'sync',
      '-b', `127.0.0.1:${ctx.port}`, 'hello_wsgi:app'],
    path: '/', tool2: true, probe: 'worker',
    about: 'pre-fork WSGI, 2 sync workers, bench/python/hello_wsgi.py (apt-get install -y gunicorn)',
  },
];

/** Compiles bench/c/fork_hello.c (the C floor) into a temporary directory, removed at exit; returns the binary. */
async function buildCFloor() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-c-floor-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'fork_hello');
  const r = await P.run('cc', ['-O2', '-o', bin, path.join(__dirname, 'c', 'fork_hello.c')], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`cc -O2 bench/c/fork_hello.c failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return bin;
}

if (opt.list) {
  for (const s of SERVERS) process.stdout.write(`${s.id.padEnd(13)} ${s.name}: ${s.about}\n`);
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------
// Helpers

const pct = (a, p) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const r1 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const r2 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
const mb = (kb) => (kb === null || kb === undefined ? null : r1(kb / 1024));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Waits (up to ms) until the server has at most `max` live children. */
async function settle(pid, max, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (P.children(pid).filter((c) => !c.stat.startsWith('Z')).length <= max) return true;
    await P.sleep(50);
  }
  return false;
}

/**
 * Keeps one child of a server alive and reads its memory. Returns { mode, childPid, child, parent }
 * (kB figures from smaps_rollup), or { error }.
 */
async function probeChild(server, spec) {
  const pid = server.pid;
  const parent = P.rollup(pid);
  if (spec.probe === 'worker') {
    const w = P.children(pid).filter((c) => !c.stat.startsWith('Z'))[0];
    return w ? { mode: spec.workerLabel || 'pre-fork worker', childPid: w.pid, child: P.rollup(w.pid), parent } : { error: 'no worker found' };
  }
  await settle(pid, 0, 3000);
  const before = new Set(P.children(pid).map((c) => c.pid));
  const sock = net.connect({ host: '127.0.0.1', port: server.port });
  sock.on('error', () => {});
  try {
    await new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
      setTimeout(() => reject(new Error('connect timeout')), 3000).unref();
    });
    let mode = 'idle: accepted, before its request';
    if (spec.probe === 'keepalive') {
      mode = 'after one request, keep-alive held';
      sock.write(`GET ${spec.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await new Promise((resolve, reject) => {
        let got = '';
        const onData = (d) => {
          got += d;
          const head = got.indexOf('\r\n\r\n');
          const len = /content-length:\s*(\d+)/i.exec(got);
          if (head >= 0 && len && got.length >= head + 4 + Number(len[1])) {
            sock.off('data', onData);
            resolve();
          }
        };
        sock.on('data', onData);
        setTimeout(() => reject(new Error('no complete response within 3 s')), 3000).unref();
      });
    }
    let child = null;
    for (let i = 0; i < 60 && !child; i++) {
      const fresh = P.children(pid).filter((c) => !before.has(c.pid) && !c.stat.startsWith('Z'));
      if (fresh.length) child = fresh[0].pid;
      else await P.sleep(25);
    }
    if (!child) return { error: 'no new child appeared', parent };
    await P.sleep(100); // let the child settle after its answer
    return { mode, childPid: child, child: P.rollup(child), parent };
  } catch (err) {
    return { error: err.message, parent };
  } finally {
    sock.destroy();
  }
}

/**
 * connect -> first response byte, one client, sequential: for a fork server this is accept +
 * fork + the child's start + the answer. Returns p50/p99 in ms of `n` samples.
 */
async function ttfb(port, urlPath, n) {
  const samples = [];
  const failures = [];
  const req = Buffer.from(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  for (let i = 0; i < n; i++) {
    const r = await new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
      const timer = setTimeout(() => {
        sock.destroy();
        resolve({ error: 'timeout' });
      }, 5000);
      sock.once('connect', () => sock.write(req));
      sock.once('data', () => {
        clearTimeout(timer);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        sock.destroy();
        resolve({ ms });
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        sock.destroy();
        resolve({ error: err.code || err.message });
      });
    });
    if (r.ms !== undefined) samples.push(r.ms);
    else failures.push(r.error);
    if (failures.length > 20) break;
  }
  return { samples, failures };
}

function cpuMsPerRequest(before, after, requests) {
  if (!requests) return { self: null, children: null };
  const ms = (ticks) => (ticks * 1000) / CLK_TCK;
  return { self: r2(ms(after.self - before.self) / requests), children: r2(ms(after.children - before.children) / requests) };
}

// ------------------------------------------------------------------------------------------------
// One server, one round.

async function measureServer(spec, round, tool2, state) {
  const rec = { round: round + 1 };
  const ctx = {};
  if (spec.freePort) ctx.port = await freePort();
  const t0 = Date.now();
  let server;
  try {
    // PYTHONDONTWRITEBYTECODE: gunicorn imports bench/python/hello_wsgi.py; leave no __pycache__
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
    server = await P.startServer({ name: spec.name, cmd: spec.cmd, args: spec.args(ctx), cwd: ROOT, env, workers: spec.workers }, { timeoutMs: 20_000 });
  } catch (err) {
    rec.error = `start: ${err.message}`;
    return rec;
  }
  rec.startMs = Date.now() - t0;
  rec.pid = server.pid;
  const url = `http://127.0.0.1:${server.port}${spec.path}`;
  try {
    // warm-up
    if (state.ab) await L.ab(url, { requests: WARMUP, concurrency: Math.min(10, CONCURRENCY), timeoutMs: 60_000 });
    await settle(server.pid, spec.workers || 0, 2000);
    await P.sleep(300);

    // ab
    if (state.ab) {
      const before = P.snapshot(server.pid);
      const cpu0 = P.cpuTree(server.pid);
      const run = await L.ab(url, { requests: REQUESTS, concurrency: CONCURRENCY, timeoutMs: RUN_TIMEOUT_MS });
      await P.sleep(1000);
      const after = P.snapshot(server.pid);
      const cpu1 = P.cpuTree(server.pid);
      rec.ab = { ...run, before, after, cpuMsPerReq: cpuMsPerRequest(cpu0, cpu1, run.requests) };
      log(`  ${spec.id} round ${round + 1} ab: ${run.ok ? `${run.rps} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms, failed ${run.failed}` : `FAILED ${run.error}`}; ` +
        `after: zombies ${after.zombies}, live children ${after.liveChildren}, fds ${before.fds}->${after.fds}, RSS ${mb(after.rssKb)} MB; ` +
        `CPU ms/req parent ${rec.ab.cpuMsPerReq.self}, children ${rec.ab.cpuMsPerReq.children}`);
    }

    // a child's memory
    if (spec.probe) {
      rec.memory = await probeChild(server, spec);
      if (rec.memory.error) log(`  ${spec.id} memory probe: ${rec.memory.error}`);
      else log(`  ${spec.id} child ${rec.memory.childPid} (${rec.memory.mode}): RSS ${mb(rec.memory.child.rssKb)} MB, PSS ${mb(rec.memory.child.pssKb)} MB, private dirty ${mb(rec.memory.child.privateDirtyKb)} MB`);
    } else {
      rec.memory = { mode: 'no children', parent: P.rollup(server.pid) };
    }

    // connect -> first byte
    if (spec.ttfb && TTFB_SAMPLES > 0) {
      await settle(server.pid, spec.workers || 0, 3000);
      const n = Math.ceil(TTFB_SAMPLES / ROUNDS);
      const t = await ttfb(server.port, spec.path, n);
      rec.ttfb = t;
      log(`  ${spec.id} connect->first byte: ${t.samples.length} samples, p50 ${r2(pct(t.samples, 0.5))} ms, p99 ${r2(pct(t.samples, 0.99))} ms${t.failures.length ? `, ${t.failures.length} failures` : ''}`);
    }

    // the second tool
    if (spec.tool2 && tool2.run) {
      await settle(server.pid, spec.workers || 0, 3000);
      await P.sleep(300);
      const before = P.snapshot(server.pid);
      const cpu0 = P.cpuTree(server.pid);
      const run = await tool2.run(url, { seconds: DURATION, concurrency: CONCURRENCY, threads: Number(opt['wrk-threads']) });
      await P.sleep(1000);
      const after = P.snapshot(server.pid);
      const cpu1 = P.cpuTree(server.pid);
      rec.tool2 = { ...run, before, after, cpuMsPerReq: cpuMsPerRequest(cpu0, cpu1, run.requests) };
      log(`  ${spec.id} round ${round + 1} ${tool2.name}: ${run.ok ? `${run.rps} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms, failed ${run.failed}` : `FAILED ${run.error}`}; ` +
        `after: zombies ${after.zombies}, live children ${after.liveChildren}, fds ${after.fds}`);
    }
  } catch (err) {
    rec.error = err.message;
  } finally {
    const stop = await P.stopServer(server, { graceMs: 3000 });
    rec.stop = stop;
    if (stop.leftovers.length) note(`${spec.id}: processes left after stop: ${stop.leftovers.join(', ')}`);
  }
  return rec;
}

// ------------------------------------------------------------------------------------------------
// Summaries

function summarise(spec, recs, key) {
  const runs = recs.map((r) => r[key]).filter((x) => x && x.ok);
  if (!runs.length) {
    const errs = recs.map((r) => r.error || (r[key] && r[key].error)).filter(Boolean);
    return errs.length ? { error: errs[0] } : null;
  }
  const rps = runs.map((x) => x.rps);
  const afters = runs.map((x) => x.after);
  return {
    rounds: runs.length,
    rps: { median: r1(median(rps)), min: r1(Math.min(...rps)), max: r1(Math.max(...rps)) },
    p50: r2(median(runs.map((x) => x.p50))),
    p99: r2(median(runs.map((x) => x.p99))),
    failed: runs.reduce((a, x) => a + (x.failed || 0), 0),
    requests: runs.reduce((a, x) => a + (x.requests || 0), 0),
    zombiesAfter: Math.max(...afters.map((a) => a.zombies)),
    liveChildrenAfter: Math.max(...afters.map((a) => a.liveChildren)),
    fdsBefore: runs[0].before.fds,
    fdsAfter: runs[0].after.fds,
    parentRssMb: mb(median(afters.map((a) => a.rssKb))),
    cpuMsPerReq: { self: r2(median(runs.map((x) => x.cpuMsPerReq.self))), children: r2(median(runs.map((x) => x.cpuMsPerReq.children))) },
  };
}

function summariseMemory(recs) {
  const ok = recs.map((r) => r.memory).filter((m) => m && m.child);
  const parents = recs.map((r) => r.memory).filter((m) => m && m.parent);
  const med = (f) => mb(median(ok.map(f)));
  return {
    mode: ok[0] ? ok[0].mode : (parents[0] ? parents[0].mode : null),
    error: ok.length ? null : (recs.map((r) => r.memory && r.memory.error).find(Boolean) || null),
    parentRssMb: mb(median(parents.map((m) => m.parent.rssKb))),
    parentPssMb: mb(median(parents.map((m) => m.parent.pssKb))),
    child: ok.length ? { rssMb: med((m) => m.child.rssKb), pssMb: med((m) => m.child.pssKb), privateDirtyMb: med((m) => m.child.privateDirtyKb), privateDirtyKb: median(ok.map((m) => m.child.privateDirtyKb)) } : null,
  };
}

function summariseTtfb(recs) {
  const samples = recs.flatMap((r) => (r.ttfb ? r.ttfb.samples : []));
  const failures = recs.reduce((a, r) => a + (r.ttfb ? r.ttfb.failures.length : 0), 0);
  if (!samples.length) return null;
  return { samples: samples.length, failures, p50: r2(pct(samples, 0.5)), p99: r2(pct(samples, 0.99)) };
}

// ------------------------------------------------------------------------------------------------
// Micro benchmarks and the long child

async function forkHeap() {
  if (!fs.existsSync(path.join(DIST, 'posix.js'))) {
    note('fork latency skipped: dist/posix.js missing (npm run build:ts)');
    return null;
  }
  log(`fork latency against parent heap (${opt['fork-heaps']} MB, cycles ${opt['fork-cycles']}) ...`);
  const r = await P.run(NODE, [path.join(__dirname, 'fork-heap.js'), '--json', '--heaps', opt['fork-heaps'], '--cycles', opt['fork-cycles']], { timeoutMs: Math.min(600_000, Math.max(60_000, timeLeftMs())) });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    note(`fork latency failed: ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return null;
  }
}

async function longChild() {
  const control = !opt['no-long-child-control'];
  let seconds = LONG_CHILD_S;
  const room = Math.floor((timeLeftMs() - 60_000) / 1000);
  if (room < seconds) {
    if (room < 10) {
      note(`long-lived child skipped: the run's deadline (--max-minutes ${opt['max-minutes']}) leaves no time`);
      return null;
    }
    note(`long-lived child shortened to ${room} s to meet the deadline (--max-minutes ${opt['max-minutes']})`);
    seconds = room;
  }
  const sample = Math.max(2, Math.min(10, Math.floor(seconds / 6)));
  // The forked child and its control run side by side: same time window, same machine noise.
  log(`long-lived forked child${control ? ' and its control (spawned, never forked), side by side,' : ''} for ${seconds} s (samples every ${sample} s) ...`);
  const one = async (noFork) => {
    const args = [path.join(__dirname, 'long-child.js'), '--json', '--seconds', String(seconds), '--sample-seconds', String(sample), ...(noFork ? ['--no-fork'] : [])];
    const r = await P.run(NODE, args, { timeoutMs: (seconds + 60) * 1000 });
    try {
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      log(`  ${j.mode}: ${j.requests.ok} ok / ${j.requests.failed} failed, RSS ${j.rssMb.first} -> ${j.rssMb.last} MB, GCs ${j.gc ? j.gc.count : 'n/a'}, healthy ${j.healthy}`);
      return j;
    } catch {
      note(`long-lived ${noFork ? 'control' : 'child'} failed: ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      return null;
    }
  };
  const runs = (await Promise.all(control ? [one(false), one(true)] : [one(false)])).filter(Boolean);
  return runs.length ? runs : null;
}

// ------------------------------------------------------------------------------------------------
// Report

function markdown(result) {
  const L2 = [];
  const w = (s = '') => L2.push(s);
  const byId = Object.fromEntries(result.servers.map((s) => [s.id, s]));
  const base = byId['py-tutorial'] && byId['py-tutorial'].ab && byId['py-tutorial'].ab.rps ? byId['py-tutorial'].ab.rps.median : null;
  const fmtRps = (x) => (x && x.rps ? `${x.rps.median} (${x.rps.min}–${x.rps.max})` : x && x.error ? `error: ${x.error.split('\n')[0].slice(0, 80)}` : 'n/a');
  const v = (x) => (x === null || x === undefined ? 'n/a' : x);
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : 'n/a');

  w(`# forkserve benchmark suite, ${result.date.slice(0, 16).replace('T', ' ')} UTC`);
  w();
  w(`${result.machine.cpus} × ${result.machine.model}, ${result.machine.memGb} GB, ${result.machine.os}, Node ${result.node}. ` +
    `${result.settings.rounds} round(s), servers interleaved; ab -n ${result.settings.requests} -c ${result.settings.concurrency}` +
    (result.tool2.name !== 'none' ? `; ${result.tool2.name} -c ${result.settings.concurrency} for ${result.settings.duration} s${result.tool2.name === 'wrk' ? ` (-t ${result.settings.wrkThreads})` : ''}` : '') +
    `. Loopback, load tool and server on the same machine. Median (min–max) over rounds; noisy machines: compare within one run.`);
  w();
  if (result.servers.length) {
    w('## ab (a new connection per request: fork per request for the fork servers)');
    w();
    w('| server | req/s | vs Python 3g | p50 ms | p99 ms | failed | zombies after | live children after | fds before/after | parent RSS MB | CPU ms/req parent / children |');
    w('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const s of result.servers) {
      const a = s.ab;
      if (!a || a.error) {
        w(`| ${s.name} | ${a ? fmtRps(a) : s.skipped ? `skipped: ${s.skipped}` : 'n/a'} | | | | | | | | | |`);
        continue;
      }
      w(`| ${s.name} | ${fmtRps(a)} | ${ratio(a.rps.median, base)} | ${v(a.p50)} | ${v(a.p99)} | ${a.failed} | ${a.zombiesAfter} | ${a.liveChildrenAfter} | ${v(a.fdsBefore)}/${v(a.fdsAfter)} | ${v(a.parentRssMb)} | ${v(a.cpuMsPerReq.self)} / ${v(a.cpuMsPerReq.children)} |`);
    }
    w();
    if (result.tool2.name !== 'none') {
      w(`## ${result.tool2.name} (keep-alive where the server allows it: forkserve and node:http keep a connection, and its child, for many requests; ws2, ForkingMixIn and gunicorn sync close each connection)`);
      w();
      w('| server | req/s | p50 ms | p99 ms | failed | zombies after | live children after | CPU ms/req parent / children |');
      w('|---|---|---|---|---|---|---|---|');
      for (const s of result.servers) {
        const a = s.tool2;
        if (!s.spec.tool2) continue;
        if (!a || a.error) {
          w(`| ${s.name} | ${a ? fmtRps(a) : s.skipped ? `skipped: ${s.skipped}` : 'n/a'} | | | | | | |`);
          continue;
        }
        w(`| ${s.name} | ${fmtRps(a)} | ${v(a.p50)} | ${v(a.p99)} | ${a.failed} | ${a.zombiesAfter} | ${a.liveChildrenAfter} | ${v(a.cpuMsPerReq.self)} / ${v(a.cpuMsPerReq.children)} |`);
      }
      w();
    } else if (result.tool2.note) {
      w(`Second tool: none (${result.tool2.note}).`);
      w();
    }
    w('## Memory (smaps_rollup; a child is sampled while alive)');
    w();
    w('| server | child sampled | parent RSS MB | parent PSS MB | child RSS MB | child PSS MB | child private dirty MB |');
    w('|---|---|---|---|---|---|---|');
    for (const s of result.servers) {
      const m = s.memory;
      if (!m) continue;
      w(`| ${s.name} | ${m.error ? `error: ${m.error}` : v(m.mode)} | ${v(m.parentRssMb)} | ${v(m.parentPssMb)} | ${m.child ? m.child.rssMb : '–'} | ${m.child ? m.child.pssMb : '–'} | ${m.child ? m.child.privateDirtyMb : '–'} |`);
    }
    w();
  }
  const tt = result.servers.filter((s) => s.ttfb);
  if (tt.length) {
    w('## connect → first response byte (one client, sequential; for a fork server: accept + fork + the child\'s answer)');
    w();
    const nodeT = byId['node-hello'] && byId['node-hello'].ttfb;
    w('| server | samples | p50 ms | p99 ms | p50 − node:http p50 |');
    w('|---|---|---|---|---|');
    for (const s of tt) w(`| ${s.name} | ${s.ttfb.samples}${s.ttfb.failures ? ` (${s.ttfb.failures} failed)` : ''} | ${s.ttfb.p50} | ${s.ttfb.p99} | ${nodeT ? r2(s.ttfb.p50 - nodeT.p50) : 'n/a'} |`);
    w();
  }
  if (result.forkHeap) {
    w('## fork() latency against the parent\'s heap (bench/fork-heap.js; parent side: barrier + MADV_DOFORK + fork)');
    w();
    w('| parent | heap MB | RSS MB | fork µs p50 / p99 | barrier µs p50 | madvise µs p50 | kernel fork µs p50 | Python os.fork µs p50 (same RSS) | ratio |');
    w('|---|---|---|---|---|---|---|---|---|');
    for (const r of result.forkHeap.rows) {
      const py = r.pythonForkUs && r.pythonForkUs.p50 ? `${r.pythonForkUs.p50}` : 'n/a';
      w(`| ${r.heapTargetMb ? `${r.heapTargetMb} MB heap` : 'fresh'} | ${r.heapMb} | ${r.rssMb} | ${r.forkUs.p50} / ${r.forkUs.p99} | ${r.barrierUs.p50} | ${r.madviseUs.p50} | ${r.kernelForkUs.p50} | ${py} | ${v(r.ratioToPython)}× |`);
    }
    w();
  }
  if (result.gateway) {
    const g = result.gateway;
    w('## The gateway figure (issue 5): the Express example on concurrent-final vs on node:http');
    w();
    w(`- ab: ${v(g.ab.forkserve)} vs ${v(g.ab.nodeHttp)} req/s: **${v(g.ab.ratio)}×** node:http.`);
    if (g.abWarm) w(`- ab with \`--warm-up /hello\`: ${v(g.abWarm.forkserve)} req/s: **${v(g.abWarm.ratio)}×** node:http; child CPU ${v(g.abWarm.childMs)} ms per request.`);
    if (g.tool2) w(`- ${result.tool2.name} (keep-alive): ${v(g.tool2.forkserve)} vs ${v(g.tool2.nodeHttp)} req/s: **${v(g.tool2.ratio)}×**.`);
    w(`- CPU per request under ab (from /proc/<pid>/stat: the server's utime+stime, its children's cutime+cstime): concurrent-final parent ${v(g.cpu.parentMs)} ms + children ${v(g.cpu.childMs)} ms ` +
      `(the child's cost of a connection); node:http ${v(g.cpu.nodeHttpMs)} ms. Hello app for comparison: parent ${v(g.cpu.helloParentMs)} ms + children ${v(g.cpu.helloChildMs)} ms.`);
    w();
  }
  if (result.longChild) {
    const c0 = result.longChild[0];
    w(`## A long-lived forked child (bench/long-child.js, ${c0.settings.seconds} s)`);
    w();
    w(`One server serving node:http, ${c0.settings.concurrency} keep-alive clients capped at ${c0.settings.rate} req/s, ` +
      `${c0.settings.allocKb} KB allocated per request into a ${c0.settings.retainMb} MB ring. "forked": a child of forkserve's fork() on the ` +
      'inherited listener (a pre-fork worker); "control": the same code in a node process started normally, run at the same time.');
    w();
    w('| server | requests ok / failed | latency p50 / p99 / max ms | RSS MB first / mid / last / max | second-half RSS growth | private dirty MB first → last | GCs (kinds) | GC total / max pause ms | exit | healthy |');
    w('|---|---|---|---|---|---|---|---|---|---|');
    for (const c of result.longChild) {
      const gc = c.gc || {};
      w(`| ${c.mode} | ${c.requests.ok} / ${c.requests.failed} | ${c.requests.p50Ms} / ${c.requests.p99Ms} / ${c.requests.maxMs} | ${c.rssMb.first} / ${c.rssMb.mid} / ${c.rssMb.last} / ${c.rssMb.max} | ${v(c.rssGrowthSecondHalfMb)} MB (${v(c.rssGrowthMbPerMin)} MB/min) | ` +
        `${c.privateDirtyMb.first} → ${c.privateDirtyMb.last} | ${v(gc.count)} (${Object.entries(gc.byKind || {}).map(([k, n]) => `${k} ${n}`).join(', ')}) | ${v(gc.totalMs)} / ${v(gc.maxMs)} | ` +
        `${c.exit.signal ? `signal ${c.exit.signal}` : `code ${c.exit.exitCode}`} | ${c.healthy ? 'yes' : `no: ${c.reasons.join('; ')}`}${c.rssVerdict ? ` (${c.rssVerdict})` : ''} |`);
    }
    w();
  }
  w('## Goals');
  w();
  w('Ratio to goal: the figure divided by the goal; a "≥" goal is met at ≥ 1, a "≤" goal at ≤ 1.');
  w();
  w('| goal | figure | ratio to goal | met |');
  w('|---|---|---|---|');
  for (const g of result.goals) w(`| ${g.goal} | ${g.figure === null ? 'n/a' : `${g.figure}${g.unit === '×' ? '×' : g.unit ? ` ${g.unit}` : ''}`} | ${g.ratioToGoal === null ? 'n/a' : g.ratioToGoal} | ${g.met === null ? 'n/a' : g.met ? 'yes' : 'no'} |`);
  w();
  if (result.notes.length) {
    w('## Notes');
    w();
    for (const n of result.notes) w(`- ${n}`);
    w();
  }
  w(`Finished in ${(result.elapsedMs / 60000).toFixed(1)} min. Raw data: ${path.basename(result.files.json)}; chart: ${path.basename(result.files.svg)}.`);
  return L2.join('\n');
}

function goals(result) {
  const byId = Object.fromEntries(result.servers.map((s) => [s.id, s]));
  const rps = (id, k = 'ab') => (byId[id] && byId[id][k] && byId[id][k].rps ? byId[id][k].rps.median : null);
  const out = [];
  const ge = (goal, figure, target, unit = '×') => out.push({ goal, figure: figure === null ? null : r2(figure), unit, target, ratioToGoal: figure === null ? null : r2(figure / target), met: figure === null ? null : figure >= target });
  const le = (goal, figure, target, unit) => out.push({ goal, figure: figure === null ? null : r2(figure), unit, target, ratioToGoal: figure === null ? null : r2(figure / target), met: figure === null ? null : figure <= target });
  const hello = rps('cf-hello');
  const tut = rps('py-tutorial');
  const mix = rps('py-forking');
  ge('concurrent-final hello app ≥ 1.5× Python tutorial 3g req/s (ab)', hello && tut ? hello / tut : null, 1.5);
  ge('concurrent-final hello app ≥ 1.5× Python ForkingMixIn req/s (ab)', hello && mix ? hello / mix : null, 1.5);
  // (The second tool is no test of this goal: with keep-alive forkserve forks per connection, not
  // per request, while ForkingMixIn still forks per request. Its figures are in its own table.)
  const fh = result.forkHeap ? result.forkHeap.rows : [];
  const fresh = fh.find((r) => r.heapTargetMb === 0);
  const h100 = fh.find((r) => r.heapTargetMb === 100);
  le('parent fork() p50 ≤ 1 ms, fresh parent', fresh ? fresh.forkUs.p50 / 1000 : null, 1, 'ms');
  le('parent fork() p50 ≤ 2 ms, 100 MB heap', h100 ? h100.forkUs.p50 / 1000 : null, 2, 'ms');
  const m = byId['cf-hello'] && byId['cf-hello'].memory && byId['cf-hello'].memory.child;
  le('hello-world child private dirty ≤ 1 MB (concurrent-final hello app)', m ? m.privateDirtyKb / 1024 : null, 1, 'MB');
  return out;
}

function svg(result) {
  const COLORS = { fork: '#c0504d', iterative: '#e39b3b', single: '#4f81bd', prefork: '#7a9a48' };
  const rows = (k) => result.servers.filter((s) => s[k] && s[k].rps).map((s) => ({
    label: s.name, value: s[k].rps.median, min: s[k].rps.min, max: s[k].rps.max, color: COLORS[s.spec.kind],
  }));
  const p99 = (k, tag) => result.servers.filter((s) => s[k] && Number.isFinite(s[k].p99) && s[k].p99 > 0).map((s) => ({
    label: `${s.name}${tag ? ` (${tag})` : ''}`, value: s[k].p99, color: COLORS[s.spec.kind],
  }));
  const panels = [{ title: `req/s, ab -n ${result.settings.requests} -c ${result.settings.concurrency} (bar: median; whiskers: min–max of ${result.settings.rounds} rounds)`, unit: 'requests per second', rows: rows('ab') }];
  if (result.tool2.name !== 'none') panels.push({ title: `req/s, ${result.tool2.name} -c ${result.settings.concurrency}, ${result.settings.duration} s (keep-alive where allowed)`, unit: 'requests per second', rows: rows('tool2') });
  panels.push({ title: 'latency p99, ab (median over rounds)', unit: 'milliseconds', rows: p99('ab') });
  if (result.tool2.name !== 'none') panels.push({ title: `latency p99, ${result.tool2.name} (median over rounds)`, unit: 'milliseconds', rows: p99('tool2') });
  return chart({
    title: `forkserve benchmark suite, ${result.date.slice(0, 10)}`,
    subtitle: `${result.machine.cpus} CPUs, Node ${result.node}, loopback. Red: fork per connection; orange: iterative; blue: one process; green: pre-fork/cluster workers.`,
    panels,
  });
}

// ------------------------------------------------------------------------------------------------
// Main

async function main() {
  if (process.platform !== 'linux') {
    console.error('bench/suite.js needs Linux (/proc).');
    process.exit(2);
  }
  const only = opt.only ? opt.only.split(',') : null;
  const skip = opt.skip ? opt.skip.split(',') : [];
  const unknown = [...(only || []), ...skip].filter((id) => id !== 'none' && !SERVERS.some((s) => s.id === id));
  if (unknown.length) {
    console.error(`unknown server id(s): ${unknown.join(', ')}; known: ${SERVERS.map((s) => s.id).join(', ')} (or --only none)`);
    process.exit(2);
  }
  const state = { ab: P.which('ab') };
  if (!state.ab) note('ab not installed (apt-get install -y apache2-utils): the ab runs are skipped');
  const tool2 = L.pickTool2(opt.tool2);
  if (tool2.note) note(`second tool: ${tool2.note}`);
  log(`tools: ab ${state.ab ? 'yes' : 'no'}, second tool ${tool2.name}`);

  const selected = [];
  const skipped = [];
  for (const spec of SERVERS) {
    if ((only && !only.includes(spec.id)) || skip.includes(spec.id)) continue;
    const missing = spec.needs.filter((n) => !P.which(n));
    if (missing.length) {
      const why = `missing ${missing.map((m) => path.relative(ROOT, m) || m).join(', ')}${missing.includes('gunicorn') ? ' (apt-get install -y gunicorn)' : missing.some((m) => m.startsWith(DIST)) ? ' (npm run build:ts)' : ''}`;
      note(`${spec.id} skipped: ${why}`);
      skipped.push({ spec, why });
      continue;
    }
    if (spec.build) {
      try {
        spec.cmd = await spec.build();
      } catch (err) {
        note(`${spec.id} skipped: ${err.message}`);
        skipped.push({ spec, why: err.message });
        continue;
      }
    }
    selected.push(spec);
  }
  const recs = Object.fromEntries(selected.map((s) => [s.id, []]));
  log(`servers: ${selected.map((s) => s.id).join(', ')}; ${ROUNDS} round(s); deadline in ${opt['max-minutes']} min`);

  for (let round = 0; round < ROUNDS; round++) {
    for (const spec of selected) {
      if (timeLeftMs() < 60_000) {
        note(`round ${round + 1} ${spec.id} skipped: the run's deadline (--max-minutes ${opt['max-minutes']}) is near`);
        continue;
      }
      log(`round ${round + 1}/${ROUNDS}: ${spec.id} (${spec.name})`);
      const rec = await measureServer(spec, round, tool2, state);
      if (rec.error) note(`round ${round + 1} ${spec.id}: ${rec.error.split('\n')[0]}`);
      recs[spec.id].push(rec);
    }
  }

  const forkHeapResult = !opt['no-micro'] && timeLeftMs() > 90_000 ? await forkHeap() : null;
  if (!opt['no-micro'] && !forkHeapResult && timeLeftMs() <= 90_000) note('fork latency skipped: deadline');
  const longChildResult = !opt['no-long-child'] && LONG_CHILD_S > 0 ? await longChild() : null;

  // stray processes: every server's descendants must be gone
  const strays = [];
  for (const pid of P.live.keys()) strays.push(pid);
  if (strays.length) note(`processes still running at the end (killed now): ${strays.join(', ')}`);
  P.killAll();

  const date = new Date().toISOString();
  const outDir = path.resolve(opt.out);
  fs.mkdirSync(outDir, { recursive: true });
  const stem = path.join(outDir, date.slice(0, 10));
  const result = {
    date,
    node: process.version,
    machine: { cpus: os.cpus().length, model: (os.cpus()[0] || {}).model, memGb: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}`, loadavg: os.loadavg().map(r2) },
    settings: { rounds: ROUNDS, requests: REQUESTS, concurrency: CONCURRENCY, warmup: WARMUP, duration: DURATION, wrkThreads: Number(opt['wrk-threads']), ttfbSamples: TTFB_SAMPLES, longChildSeconds: LONG_CHILD_S, maxMinutes: Number(opt['max-minutes']) },
    tool2: { name: tool2.name, note: tool2.note || null },
    servers: [
      ...selected.map((spec) => ({
        id: spec.id, name: spec.name, about: spec.about, spec: { kind: spec.kind, tool2: spec.tool2, path: spec.path, command: [spec.cmd === NODE ? 'node' : spec.cmd, ...spec.args({ port: 'PORT' }).map((a) => (a.startsWith(ROOT) ? path.relative(ROOT, a) : a))].join(' ') },
        ab: summarise(spec, recs[spec.id], 'ab'),
        tool2: spec.tool2 ? summarise(spec, recs[spec.id], 'tool2') : null,
        memory: summariseMemory(recs[spec.id]),
        ttfb: spec.ttfb ? summariseTtfb(recs[spec.id]) : null,
        rounds: recs[spec.id],
      })),
      ...skipped.map(({ spec, why }) => ({ id: spec.id, name: spec.name, about: spec.about, spec: { kind: spec.kind, tool2: spec.tool2 }, skipped: why })),
    ],
    forkHeap: forkHeapResult,
    longChild: longChildResult,
    notes,
    files: { json: `${stem}.json`, md: `${stem}.md`, svg: `${stem}.svg`, latestSvg: path.join(outDir, 'latest.svg') },
  };
  const byId = Object.fromEntries(result.servers.map((s) => [s.id, s]));
  const cfx = byId['cf-express'];
  const nx = byId['node-express'];
  const hello = byId['cf-hello'];
  if (cfx && nx && cfx.ab && nx.ab && cfx.ab.rps && nx.ab.rps) {
    const t = (s) => (s.tool2 && s.tool2.rps ? s.tool2.rps.median : null);
    result.gateway = {
      ab: { forkserve: cfx.ab.rps.median, nodeHttp: nx.ab.rps.median, ratio: r2(cfx.ab.rps.median / nx.ab.rps.median) },
      abWarm: byId['cf-express-warm'] && byId['cf-express-warm'].ab && byId['cf-express-warm'].ab.rps
        ? { forkserve: byId['cf-express-warm'].ab.rps.median, ratio: r2(byId['cf-express-warm'].ab.rps.median / nx.ab.rps.median), childMs: byId['cf-express-warm'].ab.cpuMsPerReq.children }
        : null,
      tool2: t(cfx) && t(nx) ? { forkserve: t(cfx), nodeHttp: t(nx), ratio: r2(t(cfx) / t(nx)) } : null,
      cpu: {
        parentMs: cfx.ab.cpuMsPerReq.self, childMs: cfx.ab.cpuMsPerReq.children, nodeHttpMs: nx.ab.cpuMsPerReq.self,
        helloParentMs: hello && hello.ab && hello.ab.cpuMsPerReq ? hello.ab.cpuMsPerReq.self : null,
        helloChildMs: hello && hello.ab && hello.ab.cpuMsPerReq ? hello.ab.cpuMsPerReq.children : null,
      },
    };
  }
  result.goals = goals(result);
  result.elapsedMs = Date.now() - T_START;

  const md = markdown(result);
  const chartSvg = svg(result);
  fs.writeFileSync(result.files.json, `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(result.files.md, `${md}\n`);
  fs.writeFileSync(result.files.svg, chartSvg);
  fs.writeFileSync(result.files.latestSvg, chartSvg);
  process.stdout.write(`${md}\n\nWritten: ${[result.files.json, result.files.md, result.files.svg, result.files.latestSvg].map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
}

function bail(code) {
  P.killAll();
  process.exit(code);
}
process.on('SIGINT', () => {
  log('interrupted: killing every process the suite started, by PID');
  bail(130);
});
process.on('SIGTERM', () => bail(143));
process.on('uncaughtException', (err) => {
  console.error(err);
  bail(1);
});

main().catch((err) => {
  console.error(err);
  bail(1);
});
