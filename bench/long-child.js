#!/usr/bin/env node
// One long-lived forked child: the data a future pre-fork worker pool needs. Does a Node process
// created by forkserve's fork() stay healthy for minutes of serving, allocating and collecting?
//
// The parent binds a listener (socket/bind/listen through dist/posix.js), forks ONE child with
// forkserve's fork() and closes its own copy of the listener. The child serves node:http on the
// inherited descriptor (`server.listen({ fd })`, as a pre-fork worker would); every request
// allocates (about --alloc-kb of objects and strings, kept in a ring of --retain-mb, so old
// entries die after promotion: minor and major GCs both happen) and answers "Hello, World!\n".
// The child watches its own GCs with a PerformanceObserver('gc') and answers /__stats with them.
// The parent drives load itself (keep-alive clients, --concurrency, capped at --rate req/s) and
// every --sample-seconds reads the child's /proc/<pid>/smaps_rollup (RSS, PSS, private dirty) and
// its /__stats (GC pauses, heap). At the end it stops the child (SIGTERM, then SIGKILL), reaps it
// with waitpid and judges: every request answered, the child alive until stopped, RSS not growing
// in the second half of the run.
//
// --no-fork runs the control: the same server code in a plain node process started with
// child_process.spawn (never forked), the same load and samples. Comparing the two separates what
// fork() changes from what V8 does anyway with this workload (its heap grows to a working size).
//
// In fork mode this process never uses child_process and installs no SIGCHLD handler (FORK-SAFETY
// rules); it creates no timers or handles before fork(), so the child inherits none. A server whose
// parent disappears exits by itself (it checks getppid() every second), and it has a hard deadline.
//
//   node bench/long-child.js [--seconds 300] [--sample-seconds 10] [--concurrency 4] [--rate 500]
//                            [--alloc-kb 32] [--retain-mb 32] [--no-fork] [--json]
//
// Prints a summary (or, with --json, one JSON line for bench/suite.js); without --json also writes
// bench/results/long-child-<date>.json. Linux only (/proc).
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');
const posix = require(path.join(__dirname, '..', 'dist', 'posix.js'));

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    'sample-seconds': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '4' },
    rate: { type: 'string', default: '500' },
    'alloc-kb': { type: 'string', default: '32' },
    'retain-mb': { type: 'string', default: '32' },
    'no-fork': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    role: { type: 'string' }, // internal: 'server' is the --no-fork control process
  },
});
const SECONDS = Number(values.seconds);
const SAMPLE_MS = Math.max(1, Number(values['sample-seconds'])) * 1000;
const CONCURRENCY = Number(values.concurrency);
const RATE = Number(values.rate);
const ALLOC_KB = Number(values['alloc-kb']);
const RETAIN_MB = Number(values['retain-mb']);
const BODY = Buffer.from('Hello, World!\n');

const MODE = values['no-fork'] ? 'spawned (no fork, control)' : 'forked';
const PARENT = posix.getpid();
let PORT;
let serverPid;
let stopServer; // async () => { exitCode, signal, killed }

function start() {
  if (values.role === 'server') {
    // The --no-fork control: a plain node process, listening on its own port.
    serve({ port: 0, host: '127.0.0.1' }, posix.getppid());
  } else if (values['no-fork']) {
    const { spawn } = require('node:child_process'); // this mode never forks
    const args = [__filename, '--role', 'server', '--seconds', String(SECONDS), '--alloc-kb', String(ALLOC_KB), '--retain-mb', String(RETAIN_MB)];
    // With this process's V8 and Node flags, as a forked child has them.
    const proc = spawn(process.execPath, [...process.execArgv, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    serverPid = proc.pid;
    const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ exitCode: code, signal: signal ? require('node:os').constants.signals[signal] : null })));
    stopServer = async () => {
      try {
        process.kill(serverPid, 'SIGTERM');
      } catch {}
      const r = await Promise.race([exited, sleep(3000).then(() => null)]);
      if (r) return r;
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {}
      return { ...(await exited), killed: true };
    };
    let out = '';
    proc.stdout.on('data', (d) => {
      if (PORT !== undefined) return;
      out += d;
      const m = /Serving HTTP on port (\d+)/.exec(out);
      if (m) {
        PORT = Number(m[1]);
        parent().catch(fatal);
      }
    });
    proc.once('exit', () => {
      if (PORT === undefined) fatal(new Error('the control server exited before serving'));
    });
  } else {
    // The listener, created before the fork (the child inherits it, the parent closes its copy).
    const listenFd = posix.socket(posix.AF_INET, posix.SOCK_STREAM);
    posix.setsockopt(listenFd, posix.SOL_SOCKET, posix.SO_REUSEADDR, 1);
    posix.bind(listenFd, '127.0.0.1', 0);
    posix.listen(listenFd, 511);
    PORT = posix.getsockname(listenFd).port;
    const pid = posix.fork();
    if (pid === 0) {
      serve({ fd: listenFd }, PARENT);
    } else {
      posix.close(listenFd);
      serverPid = pid;
      stopServer = async () => {
        try {
          posix.kill(pid, posix.SIGTERM);
        } catch {}
        for (let i = 0; i < 60; i++) {
          const r = posix.waitpid(pid, posix.WNOHANG);
          if (r.pid === pid) return { exitCode: r.exitCode, signal: r.signal };
          await sleep(50);
        }
        try {
          posix.kill(pid, posix.SIGKILL);
        } catch {}
        const r = posix.waitpid(pid, 0);
        return { exitCode: r.exitCode, signal: r.signal, killed: true };
      };
      parent().catch(fatal);
    }
  }
}

function fatal(err) {
  try {
    if (serverPid) process.kill(serverPid, 'SIGKILL');
    if (!values['no-fork'] && serverPid) posix.waitpid(serverPid, 0);
  } catch {}
  console.error(err && err.stack);
  process.exit(1);
}

// ------------------------------------------------------------------------------------------------
// The server (the forked child, or the --no-fork control): node:http, allocation per request, GC
// observation. `target` is { fd } (the inherited listener) or { port, host }.
function serve(target, parentPid) {
  const { PerformanceObserver, constants } = require('node:perf_hooks');
  const KIND = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const fresh = () => ({ count: 0, totalMs: 0, maxMs: 0, byKind: {}, pauses: [] });
  let gcWindow = fresh();
  const gcTotal = { count: 0, totalMs: 0, maxMs: 0, byKind: {} };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = KIND[e.detail ? e.detail.kind : e.kind] || 'other';
      for (const g of [gcWindow, gcTotal]) {
        g.count++;
        g.totalMs += e.duration;
        g.maxMs = Math.max(g.maxMs, e.duration);
        g.byKind[kind] = (g.byKind[kind] || 0) + 1;
      }
      if (gcWindow.pauses.length < 100_000) gcWindow.pauses.push(e.duration);
    }
  }).observe({ entryTypes: ['gc'] });

  // A ring of retained allocations: each request replaces one entry, so what it replaces (promoted
  // to the old generation by then) becomes garbage for the next mark-compact.
  // Is the per-request function optimized (TurboFan or Maglev)? V8's natives syntax, turned on here
  // at run time (a parser flag), asks its tier; in a forked child that needs V8's background compile
  // jobs to run.
  require('node:v8').setFlagsFromString('--allow-natives-syntax');
  const optimized = new Function('f', 'return !%ActiveTierIsIgnition(f) && !%ActiveTierIsSparkplug(f);');
  const perRequest = ALLOC_KB * 1024;
  const ring = new Array(Math.max(1, Math.floor((RETAIN_MB * 1024 * 1024) / perRequest))).fill(null);
  let served = 0;
  let windowServed = 0;
  function allocate(i) {
    const objs = [];
    let bytes = 0;
    while (bytes < perRequest / 2) {
      objs.push({ i, at: Date.now(), tag: `req-${i}-${bytes}`, list: [i, bytes, i ^ bytes] });
      bytes += 120;
    }
    const text = 'x'.repeat(perRequest / 2) + i; // a flat string of the other half
    ring[i % ring.length] = { objs, text };
  }

  const q = (a, p) => {
    if (!a.length) return null;
    const s = [...a].sort((x, y) => x - y);
    return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/__stats') {
      const m = process.memoryUsage();
      const g = gcWindow;
      const body = JSON.stringify({
        pid: posix.getpid(), served, windowServed, allocateOptimized: optimized(allocate), fork: posix.forkInfo(),
        heapUsedMb: +(m.heapUsed / 1048576).toFixed(1), heapTotalMb: +(m.heapTotal / 1048576).toFixed(1), rssMb: +(m.rss / 1048576).toFixed(1),
        gc: { count: g.count, totalMs: +g.totalMs.toFixed(2), maxMs: +g.maxMs.toFixed(2), p50Ms: q(g.pauses, 0.5), p99Ms: q(g.pauses, 0.99), byKind: g.byKind },
        gcTotal: { count: gcTotal.count, totalMs: +gcTotal.totalMs.toFixed(2), maxMs: +gcTotal.maxMs.toFixed(2), byKind: gcTotal.byKind },
      });
      gcWindow = fresh();
      windowServed = 0;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    allocate(served++);
    windowServed++;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 10_000;
  server.listen(target, () => {
    if (target.port !== undefined) process.stdout.write(`Serving HTTP on port ${server.address().port} ...\n`);
  });
  // An orphan must not serve forever: leave when the parent is gone, or at the hard deadline.
  const deadline = Date.now() + (SECONDS + 60) * 1000;
  setInterval(() => {
    if (posix.getppid() !== parentPid || Date.now() > deadline) posix._exit(0);
  }, 1000);
}

// ------------------------------------------------------------------------------------------------
// The parent: load, samples, the verdict.
function rollup(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text) || [])[1] || 0);
    return { rssKb: kb('Rss'), pssKb: kb('Pss'), privateDirtyKb: kb('Private_Dirty') };
  } catch {
    return null;
  }
}

// CPU time (user + system, ms) the server has used, from /proc/<pid>/stat (100 ticks per second).
function cpuMs(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

function childState(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
  } catch {
    return 'gone';
  }
}

function get(agent, urlPath, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port: PORT, path: urlPath, agent, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ ok: res.statusCode === 200, ms: Number(process.hrtime.bigint() - t0) / 1e6, body: Buffer.concat(chunks).toString() }));
      res.on('error', (err) => resolve({ ok: false, error: err.code || err.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve({ ok: false, error: err.code || err.message }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (a, p) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
};
const last = (a) => a[a.length - 1];

async function parent() {
  let stopping = false;
  const onSignal = () => {
    try {
      process.kill(serverPid, 'SIGKILL');
      if (!values['no-fork']) posix.waitpid(serverPid, 0);
    } catch {}
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statsAgent = new http.Agent({ keepAlive: false });
  const t0 = Date.now();
  const endAt = t0 + SECONDS * 1000;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  const errors = {};
  let window = [];
  const all = [];
  const samples = [];

  // Wait until the child answers (it starts in a few ms).
  let servedBefore = 0;
  for (let i = 0; i < 50; i++) {
    const r = await get(statsAgent, '/__stats', 1000);
    if (r.ok) {
      servedBefore = JSON.parse(r.body).served;
      break;
    }
    await sleep(100);
  }
  const cpuBefore = cpuMs(serverPid);

  async function client() {
    while (!stopping && Date.now() < endAt) {
      if (RATE > 0) {
        const due = t0 + (sent / RATE) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      sent++;
      const r = await get(agent, '/');
      if (r.ok) {
        ok++;
        window.push(r.ms);
        if (all.length < 2_000_000) all.push(r.ms);
      } else {
        failed++;
        errors[r.error || 'status'] = (errors[r.error || 'status'] || 0) + 1;
        if (childState(serverPid) === 'gone' || childState(serverPid) === 'Z') break;
      }
    }
  }

  async function sampler() {
    while (!stopping && Date.now() < endAt) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, endAt - Date.now())));
      const mem = rollup(serverPid);
      const s = await get(statsAgent, '/__stats', 5000);
      let stats = null;
      try {
        stats = s.ok ? JSON.parse(s.body) : null;
      } catch {}
      const lat = window;
      window = [];
      samples.push({
        t: +((Date.now() - t0) / 1000).toFixed(1),
        state: childState(serverPid),
        rssMb: mem ? +(mem.rssKb / 1024).toFixed(1) : null,
        pssMb: mem ? +(mem.pssKb / 1024).toFixed(1) : null,
        privateDirtyMb: mem ? +(mem.privateDirtyKb / 1024).toFixed(1) : null,
        heapUsedMb: stats ? stats.heapUsedMb : null,
        requests: lat.length,
        p50Ms: pct(lat, 0.5),
        p99Ms: pct(lat, 0.99),
        gc: stats ? stats.gc : null,
        statsOk: s.ok,
      });
      if (!values.json) {
        const s1 = samples[samples.length - 1];
        console.error(`t=${s1.t}s child ${serverPid} ${s1.state}: RSS ${s1.rssMb} MB, private dirty ${s1.privateDirtyMb} MB, heap ${s1.heapUsedMb} MB, ` +
          `${s1.requests} req (p99 ${s1.p99Ms} ms), GCs ${s1.gc ? `${s1.gc.count} (max ${s1.gc.maxMs} ms)` : 'n/a'}`);
      }
      if (last(samples).state === 'gone' || last(samples).state === 'Z') break;
    }
  }

  await Promise.all([sampler(), ...Array.from({ length: CONCURRENCY }, client)]);
  stopping = true;
  const final = await get(statsAgent, '/__stats', 5000);
  let finalStats = null;
  try {
    finalStats = final.ok ? JSON.parse(final.body) : null;
  } catch {}
  const cpuAfter = cpuMs(serverPid);
  agent.destroy();
  const aliveAtEnd = !['gone', 'Z'].includes(childState(serverPid));
  const servedInRun = finalStats ? finalStats.served - servedBefore : 0;

  // Stop the server by PID and reap it.
  const exit = await stopServer();

  // The verdict. RSS is a sawtooth (it climbs between major GCs and drops at each), so one sample
  // against another says more about the phase than the trend: compare the troughs, the lowest RSS
  // of the last third against that of the middle third (the first third is warm-up: the retained
  // ring fills, the heap grows to its working size). A leak raises the troughs.
  const withRss = samples.filter((s) => s.rssMb !== null);
  const mid = withRss[Math.floor(withRss.length / 2)];
  const end = last(withRss) || {};
  const third = Math.floor(withRss.length / 3);
  const trough = (list) => (list.length ? list.reduce((m, s) => Math.min(m, s.rssMb), Infinity) : null);
  const midTrough = trough(withRss.slice(third, 2 * third));
  const endTrough = trough(withRss.slice(2 * third));
  const growthMb = midTrough !== null && endTrough !== null && third > 0 ? +(endTrough - midTrough).toFixed(1) : null;
  const spanMin = mid && end.t > mid.t ? (end.t - mid.t) / 60 : null;
  const gcPauses = samples.filter((s) => s.gc && s.gc.count);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    mode: MODE,
    settings: { seconds: SECONDS, sampleSeconds: SAMPLE_MS / 1000, concurrency: CONCURRENCY, rate: RATE, allocKb: ALLOC_KB, retainMb: RETAIN_MB },
    serverPid,
    requests: { sent, ok, failed, errors, p50Ms: pct(all, 0.5), p99Ms: pct(all, 0.99), maxMs: all.length ? +all.reduce((m, x) => (x > m ? x : m), -Infinity).toFixed(2) : null },
    rssMb: { first: withRss[0] ? withRss[0].rssMb : null, mid: mid ? mid.rssMb : null, last: end.rssMb ?? null, max: withRss.length ? Math.max(...withRss.map((s) => s.rssMb)) : null },
    privateDirtyMb: { first: withRss[0] ? withRss[0].privateDirtyMb : null, last: end.privateDirtyMb ?? null },
    rssGrowthSecondHalfMb: growthMb,
    rssGrowthMbPerMin: spanMin ? +(growthMb / spanMin).toFixed(2) : null,
    gc: finalStats ? {
      ...finalStats.gcTotal,
      maxWindowP99Ms: gcPauses.length ? Math.max(...gcPauses.map((s) => s.gc.p99Ms || 0)) : null,
    } : null,
    served: finalStats ? finalStats.served : null,
    cpu: cpuBefore !== null && cpuAfter !== null ? { ms: cpuAfter - cpuBefore, perRequestMs: servedInRun ? +((cpuAfter - cpuBefore) / servedInRun).toFixed(4) : null } : null,
    allocateOptimized: finalStats ? finalStats.allocateOptimized : null,
    childPool: finalStats && finalStats.fork.inChild
      ? { active: finalStats.fork.childPoolActive, threads: finalStats.fork.childPoolThreads, posted: finalStats.fork.childPoolPosted, ran: finalStats.fork.childPoolRan, queued: finalStats.fork.childPoolQueued }
      : null,
    aliveAtEnd,
    exit,
    samples,
  };
  const reasons = [];
  if (failed > 0) reasons.push(`${failed} failed requests`);
  if (!aliveAtEnd) reasons.push('child died before the end');
  if (exit.exitCode !== null && exit.exitCode !== 0) reasons.push(`child exit code ${exit.exitCode}`);
  if (exit.signal !== null && exit.signal !== posix.SIGTERM) reasons.push(`child ended by signal ${exit.signal}`);
  if (exit.killed) reasons.push('child ignored SIGTERM (killed)');
  if (SECONDS < 60) result.rssVerdict = 'run too short to judge the RSS trend (< 60 s)';
  else if (growthMb !== null && growthMb > Math.max(10, RETAIN_MB / 2)) reasons.push(`RSS troughs grew ${growthMb} MB from the middle to the last third`);
  if (!finalStats) reasons.push('no final /__stats');
  result.healthy = reasons.length === 0;
  result.reasons = reasons;

  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  }
  console.log(`Long-lived ${MODE} server ${serverPid}, ${SECONDS} s, ${CONCURRENCY} keep-alive clients capped at ${RATE || 'unlimited'} req/s, ` +
    `${ALLOC_KB} KB allocated per request, ${RETAIN_MB} MB retained ring:`);
  console.log(`  requests: ${ok} ok, ${failed} failed, latency p50 ${result.requests.p50Ms} ms, p99 ${result.requests.p99Ms} ms, max ${result.requests.maxMs} ms`);
  console.log(`  RSS MB: first ${result.rssMb.first}, mid ${result.rssMb.mid}, last ${result.rssMb.last}, max ${result.rssMb.max}; ` +
    `second-half growth ${growthMb} MB (${result.rssGrowthMbPerMin} MB/min); private dirty ${result.privateDirtyMb.first} -> ${result.privateDirtyMb.last} MB`);
  if (result.gc) console.log(`  GC: ${result.gc.count} pauses (${JSON.stringify(result.gc.byKind)}), total ${result.gc.totalMs} ms, max ${result.gc.maxMs} ms`);
  if (result.cpu) console.log(`  CPU: ${result.cpu.ms} ms, ${result.cpu.perRequestMs} ms per request; allocate() optimized: ${result.allocateOptimized}`);
  if (result.childPool) console.log(`  the child's V8 worker pool: ${JSON.stringify(result.childPool)}`);
  console.log(`  exit: ${JSON.stringify(exit)}; healthy: ${result.healthy}${reasons.length ? ` (${reasons.join('; ')})` : ''}`);
  const out = path.join(__dirname, 'results', `long-child${values['no-fork'] ? '-control' : ''}-${result.date.slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`Written to ${path.relative(process.cwd(), out)}`);
  process.exit(0);
}

start();
