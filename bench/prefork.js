#!/usr/bin/env node
// forkserve's pre-fork server (dist/forkserve.js) against Node's `cluster`, the same Express app and
// the same worker count (2) on both sides, in one run with interleaved rounds (A B A B ...) and
// medians, for a busy 2-core machine:
//
//   node bench/prefork.js                      (about 6 minutes; deadline --max-minutes 24)
//   node bench/prefork.js --rounds 1 --wrk-seconds 3 --ab-requests 500 --trials 2 \
//     --spread-requests 400 --out /tmp/prefork-smoke                              (a smoke run)
//   node bench/prefork.js --only throughput,memory      (sections: throughput, memory, spawn, spread, gc)
//   node bench/prefork.js --from-json bench/results/prefork-2026-11-27.json   (rewrite the .md only)
//
// A = node dist/forkserve.js -w 2 --port 0 --host 127.0.0.1 <module:export>
//     (the master loads the app once and forks the workers: copy-on-write, a shared listener)
// B = node bench/servers/express-cluster.js --workers 2 --port 0 --host 127.0.0.1 --app <module:export>
//     (cluster round-robin: the primary accepts and hands connections to spawned workers, each of
//      which loads the app itself)
//
// Sections (each server started fresh for every measurement, stopped by PID afterwards):
//  1. throughput: examples/express/app.js, GET /hello; warm-up ab -n 300 -c 10, then
//     wrk -t1 -c20 -d8s --latency (keep-alive) and ab -n 3000 -c 20 (a connection per request);
//     req/s and p99, median of --rounds; also each worker's share of the CPU during each run.
//  2. memory: bench/servers/express-100mb.js (~97 MB of JS objects built at load); 300 requests
//     (ab -c 10, GET /sample), 1 s later the sum of Pss over master + workers (smaps_rollup).
//  3. spawn: bench/servers/pid-app.js (GET /pid answers process.pid); a poller opens a fresh
//     connection every millisecond (at most 2 in flight); SIGTTIN to the master / primary; the time
//     from the signal to the first answer carrying the new worker's pid (its pid from the
//     `Booting worker with pid N` line); --trials trials, interleaved.
//  4. spread: pid-app, 2000 requests on fresh connections, 20 at a time, and 500 sequential ones,
//     from a node client that reads the pid in every body: answers per worker.
//  5. gc: express-100mb, wrk -t1 -c20 -d8s on GET /alloc (~2 MB of short-lived objects per
//     request); each worker's GC count and pause time from GET /gc-stats (a PerformanceObserver
//     per process), and the Pss sum before and after the load (how much sharing the GCs undo).
//
// Output: <out>/prefork-<date>.json (everything) and <out>/prefork-<date>.md (the table), also
// printed. Uses child_process freely (the benchmark never forks with forkserve itself). Every
// process it starts is stopped by PID: SIGTERM, then SIGKILL, then any leftover worker.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const P = require('./lib/proc');
const L = require('./lib/load');
const { median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const NODE = process.execPath;
const FORKSERVE = path.join(ROOT, 'dist', 'forkserve.js');
const CLUSTER = path.join(__dirname, 'servers', 'express-cluster.js');
const APP_EXPRESS = 'examples/express/app.js:app';
const APP_100MB = 'bench/servers/express-100mb.js:app';
const APP_PID = 'bench/servers/pid-app.js:app';

const { values: opt } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    'wrk-seconds': { type: 'string', default: '8' },
    'wrk-connections': { type: 'string', default: '20' },
    'ab-requests': { type: 'string', default: '3000' },
    'ab-concurrency': { type: 'string', default: '20' },
    'memory-requests': { type: 'string', default: '300' },
    trials: { type: 'string', default: '5' },
    'spread-requests': { type: 'string', default: '2000' },
    'spread-concurrency': { type: 'string', default: '20' },
    'spread-sequential': { type: 'string', default: '500' },
    'gc-rounds': { type: 'string', default: '3' },
    only: { type: 'string', default: 'throughput,memory,spawn,spread,gc' },
    'max-minutes': { type: 'string', default: '24' },
    'from-json': { type: 'string' },
    date: { type: 'string', default: new Date().toISOString().slice(0, 10) },
    out: { type: 'string', default: path.join(__dirname, 'results') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}

const WORKERS = Number(opt.workers);
const ROUNDS = Number(opt.rounds);
const SECTIONS = new Set(opt.only.split(',').map((s) => s.trim()));
const T_START = Date.now();
const DEADLINE = T_START + Number(opt['max-minutes']) * 60_000;
const KINDS = ['forkserve', 'cluster'];

const notes = [];
function log(text) {
  process.stderr.write(`[${((Date.now() - T_START) / 1000).toFixed(0).padStart(4)}s] ${text}\n`);
}
function note(text) {
  notes.push(text);
  log(`note: ${text}`);
}
const r1 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const r2 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
const r3 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? r3(a / b) : null);
const mb = (kb) => (kb === null || kb === undefined ? null : r1(kb / 1024));
const timeLeft = () => DEADLINE - Date.now();

// ------------------------------------------------------------------------------------------------
// Servers

const everyPid = new Set(); // every server process (master, primary, worker) seen: swept at the end

function spec(kind, app) {
  const loop = ['--port', '0', '--host', '127.0.0.1'];
  if (kind === 'forkserve') {
    return { name: `forkserve ${app}`, cmd: NODE, args: [FORKSERVE, '-w', String(WORKERS), ...loop, app], cwd: ROOT, workers: WORKERS };
  }
  return { name: `cluster ${app}`, cmd: NODE, args: [CLUSTER, '--workers', String(WORKERS), ...loop, '--app', app], cwd: ROOT, workers: WORKERS };
}

/** Starts a server; resolves with { kind, pid, port, workers: [pids], lines, onLine }. */
async function start(kind, app, { timeoutMs = 30_000 } = {}) {
  const s = await P.startServer(spec(kind, app), { timeoutMs });
  s.kind = kind;
  s.app = app;
  everyPid.add(s.pid);
  s.lines = []; // stdout lines after the serving line (whatever startServer had not consumed)
  s.lineWaiters = [];
  let buf = '';
  s.proc.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const entry = { t: performance.now(), line };
      s.lines.push(entry);
      const m = /Booting worker with pid (\d+)/.exec(line);
      if (m) everyPid.add(Number(m[1]));
      for (const w of s.lineWaiters) w(entry);
    }
  });
  s.workers = liveChildren(s.pid);
  for (const w of s.workers) everyPid.add(w);
  if (s.workers.length !== WORKERS) note(`${kind} (${app}): ${s.workers.length} workers after start, expected ${WORKERS}`);
  return s;
}

function liveChildren(pid) {
  return P.children(pid).filter((c) => !c.stat.startsWith('Z')).map((c) => c.pid);
}

/** Stops a server by PID (SIGTERM, 3 s, SIGKILL, then every descendant); notes anything odd. */
async function stop(s, what) {
  for (const w of liveChildren(s.pid)) everyPid.add(w);
  const r = await P.stopServer(s, { graceMs: 3000 });
  const err = s.stderrTail().trim();
  const res = { graceful: r.graceful, killed: r.killed, leftovers: r.leftovers, stderr: err ? err.split('\n').slice(-8) : [] };
  if (!r.graceful) note(`${s.kind} (${what}): did not exit within 3 s of SIGTERM; SIGKILLed`);
  if (r.killed.length) note(`${s.kind} (${what}): ${r.killed.length} worker(s) still alive after the master exited, SIGKILLed (${r.killed.join(', ')})`);
  if (r.leftovers.length) note(`${s.kind} (${what}): leftover processes ${r.leftovers.join(', ')}`);
  if (err) note(`${s.kind} (${what}): stderr: ${err.split('\n').slice(-3).join(' | ').slice(0, 300)}`);
  return res;
}

/** SIGKILLs every server process still alive (the last line of defence). */
function sweep() {
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
    P.killAll();
    sweep();
    process.exit(130);
  });
}

// ------------------------------------------------------------------------------------------------
// Clients

/** One GET on a fresh connection; resolves { status, body, t } or { error }. */
function get(port, urlPath, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, t: performance.now() }));
      res.on('error', (e) => resolve({ error: e.code || e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
  });
}

/** `total` GETs of /pid on fresh connections, `concurrency` at a time: answers per pid. */
async function countPids(port, total, concurrency, urlPath = '/pid') {
  const counts = {};
  let errors = 0;
  let non200 = 0;
  let next = 0;
  const t0 = performance.now();
  async function lane() {
    while (next < total) {
      next++;
      const r = await get(port, urlPath);
      if (r.error) errors++;
      else if (r.status !== 200) non200++;
      else counts[r.body] = (counts[r.body] || 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  const answered = Object.values(counts).reduce((a, b) => a + b, 0);
  const busiest = Math.max(0, ...Object.values(counts));
  return { total, concurrency, counts, errors, non200, busiestShare: answered ? r3(busiest / answered) : null, seconds: r2((performance.now() - t0) / 1000) };
}

/** Fresh-connection GETs until every pid in `pids` has answered (or `max` tries): pid -> body. */
async function askEach(port, pids, urlPath, { concurrency = 4, max = 600 } = {}) {
  const want = new Set(pids);
  const got = {};
  let tries = 0;
  async function lane() {
    while (want.size && tries < max) {
      tries++;
      const r = await get(port, urlPath);
      if (r.error || r.status !== 200) continue;
      let j;
      try {
        j = JSON.parse(r.body);
      } catch {
        continue;
      }
      if (want.has(j.pid)) {
        want.delete(j.pid);
        got[j.pid] = j;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { got, missing: [...want], tries };
}

/** Per-process CPU ticks (utime + stime). */
function ticks(pids) {
  const out = {};
  for (const p of pids) {
    const t = P.cpuTicks(p);
    out[p] = t.utime + t.stime;
  }
  return out;
}
function cpuShare(before, after) {
  const d = {};
  let total = 0;
  for (const p of Object.keys(after)) {
    d[p] = (after[p] || 0) - (before[p] || 0);
    total += d[p];
  }
  return { ticks: d, busiestShare: total ? r3(Math.max(...Object.values(d)) / total) : null };
}

function pssSum(s) {
  const pids = [s.pid, ...liveChildren(s.pid)];
  const per = pids.map((pid) => ({ pid, role: pid === s.pid ? 'master' : 'worker', ...P.rollup(pid) }));
  const sum = (k) => per.reduce((a, x) => a + (x[k] || 0), 0);
  return { processes: per.length, pssKb: sum('pssKb'), rssKb: sum('rssKb'), privateDirtyKb: sum('privateDirtyKb'), per };
}

// ------------------------------------------------------------------------------------------------
// Sections

const results = {};

async function throughput() {
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of KINDS) {
      if (timeLeft() < 60_000) {
        note(`throughput: round ${round} ${kind} skipped (deadline)`);
        continue;
      }
      const s = await start(kind, APP_EXPRESS);
      const url = `http://127.0.0.1:${s.port}/hello`;
      const warm = await L.ab(url, { requests: 300, concurrency: 10 });
      const pids = [s.pid, ...s.workers];
      const c0 = ticks(pids);
      const wrk = await L.wrk(url, { seconds: Number(opt['wrk-seconds']), concurrency: Number(opt['wrk-connections']), threads: 1 });
      const c1 = ticks(pids);
      const ab = await L.ab(url, { requests: Number(opt['ab-requests']), concurrency: Number(opt['ab-concurrency']) });
      const c2 = ticks(pids);
      const workersAfter = liveChildren(s.pid);
      const stopped = await stop(s, 'throughput');
      const workerShare = (a, b) => {
        const w = {};
        const wa = {};
        for (const p of s.workers) {
          w[p] = a[p];
          wa[p] = b[p];
        }
        return cpuShare(w, wa);
      };
      const row = {
        round, kind, warmFailed: warm.failed,
        wrk: { ...wrk, workerCpu: workerShare(c0, c1), masterTicks: c1[s.pid] - c0[s.pid] },
        ab: { ...ab, workerCpu: workerShare(c1, c2), masterTicks: c2[s.pid] - c1[s.pid] },
        workersBefore: s.workers, workersAfter, stopped,
      };
      if (wrk.failed) note(`throughput: ${kind} round ${round}: wrk ${wrk.failed} failed ${JSON.stringify(wrk.socketErrors)}`);
      if (row.wrk.workerCpu.busiestShare > 0.9) note(`throughput: ${kind} round ${round}: under wrk one worker did ${Math.round(row.wrk.workerCpu.busiestShare * 100)}% of the workers' CPU (ticks ${JSON.stringify(row.wrk.workerCpu.ticks)}): the keep-alive connections went (almost) all to one worker`);
      if (ab.failed || !ab.ok) note(`throughput: ${kind} round ${round}: ab ${ab.failed} failed${ab.error ? `, ${ab.error}` : ''}`);
      if (workersAfter.length !== s.workers.length || workersAfter.some((p) => !s.workers.includes(p))) {
        note(`throughput: ${kind} round ${round}: workers changed during the run: ${s.workers.join(',')} -> ${workersAfter.join(',')}`);
      }
      log(`throughput r${round} ${kind}: wrk ${wrk.rps} req/s p99 ${wrk.p99} ms; ab ${ab.rps} req/s p99 ${ab.p99} ms (failed ${wrk.failed}/${ab.failed})`);
      rows.push(row);
    }
  }
  const sum = {};
  for (const kind of KINDS) {
    const mine = rows.filter((r) => r.kind === kind);
    sum[kind] = {
      rounds: mine.length,
      wrkRps: r1(median(mine.map((r) => r.wrk.rps))), wrkP99: r2(median(mine.map((r) => r.wrk.p99))),
      wrkRpsAll: mine.map((r) => r.wrk.rps), wrkFailed: mine.reduce((a, r) => a + (r.wrk.failed || 0), 0),
      wrkWorkerBusiestCpuShare: r3(median(mine.map((r) => r.wrk.workerCpu.busiestShare))),
      abRps: r1(median(mine.map((r) => r.ab.rps))), abP99: r2(median(mine.map((r) => r.ab.p99))),
      abRpsAll: mine.map((r) => r.ab.rps), abFailed: mine.reduce((a, r) => a + (r.ab.failed || 0), 0),
      abWorkerBusiestCpuShare: r3(median(mine.map((r) => r.ab.workerCpu.busiestShare))),
    };
  }
  // ratio per round (A and B of the same round ran back to back), then the median of the ratios
  const perRound = (f) => median([...new Set(rows.map((r) => r.round))].map((round) => {
    const a = rows.find((r) => r.round === round && r.kind === 'forkserve');
    const b = rows.find((r) => r.round === round && r.kind === 'cluster');
    return a && b ? f(a) / f(b) : NaN;
  }));
  results.throughput = {
    rows, summary: sum,
    ratio: {
      wrkRps: ratio(sum.forkserve.wrkRps, sum.cluster.wrkRps), abRps: ratio(sum.forkserve.abRps, sum.cluster.abRps),
      wrkP99: ratio(sum.forkserve.wrkP99, sum.cluster.wrkP99), abP99: ratio(sum.forkserve.abP99, sum.cluster.abP99),
      wrkRpsMedianOfRoundRatios: r3(perRound((r) => r.wrk.rps)), abRpsMedianOfRoundRatios: r3(perRound((r) => r.ab.rps)),
    },
  };
}

async function memory() {
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of KINDS) {
      if (timeLeft() < 60_000) {
        note(`memory: round ${round} ${kind} skipped (deadline)`);
        continue;
      }
      const t0 = Date.now();
      const s = await start(kind, APP_100MB, { timeoutMs: 90_000 });
      const startMs = Date.now() - t0;
      const load = await L.ab(`http://127.0.0.1:${s.port}/sample`, { requests: Number(opt['memory-requests']), concurrency: 10 });
      await P.sleep(1000);
      const pss = pssSum(s);
      const stopped = await stop(s, 'memory');
      if (load.failed || !load.ok) note(`memory: ${kind} round ${round}: ab ${load.failed} failed${load.error ? `, ${load.error}` : ''}`);
      log(`memory r${round} ${kind}: PSS ${mb(pss.pssKb)} MB over ${pss.processes} processes (RSS ${mb(pss.rssKb)} MB), start ${startMs} ms`);
      rows.push({ round, kind, startMs, requests: load.requests, failed: load.failed, ...pss, stopped });
    }
  }
  const sum = {};
  for (const kind of KINDS) {
    const mine = rows.filter((r) => r.kind === kind);
    sum[kind] = {
      rounds: mine.length, pssMb: mb(median(mine.map((r) => r.pssKb))), rssMb: mb(median(mine.map((r) => r.rssKb))),
      privateDirtyMb: mb(median(mine.map((r) => r.privateDirtyKb))), pssMbAll: mine.map((r) => mb(r.pssKb)),
      startMs: median(mine.map((r) => r.startMs)),
    };
  }
  results.memory = { rows, summary: sum, ratio: { pss: ratio(sum.forkserve.pssMb, sum.cluster.pssMb) } };
}

/** A poller: a fresh connection to /pid every millisecond, at most `inflight` at once. */
function poller(port, { inflight = 2 } = {}) {
  const answers = [];
  let n = 0;
  let errors = 0;
  let sent = 0;
  const waiters = [];
  const timer = setInterval(() => {
    if (n >= inflight) return;
    n++;
    sent++;
    get(port, '/pid', 10_000).then((r) => {
      n--;
      if (r.error || r.status !== 200) {
        errors++;
        return;
      }
      const a = { t: r.t, pid: Number(r.body) };
      answers.push(a);
      for (const w of waiters) w(a);
    });
  }, 1);
  return {
    answers, waiters,
    stats: () => ({ sent, answered: answers.length, errors }),
    stop: () => clearInterval(timer),
  };
}

async function spawnTime() {
  const rows = [];
  const trials = Number(opt.trials);
  for (let trial = 1; trial <= trials; trial++) {
    for (const kind of KINDS) {
      if (timeLeft() < 45_000) {
        note(`spawn: trial ${trial} ${kind} skipped (deadline)`);
        continue;
      }
      const s = await start(kind, APP_PID);
      await countPids(s.port, 100, 4); // warm
      await P.sleep(500);
      const poll = poller(s.port);
      await P.sleep(300);
      const before = poll.stats();
      const known = new Set(liveChildren(s.pid));
      let bootEntry = null;
      let newPid = null;
      let first = null;
      const done = new Promise((resolve) => {
        const check = () => {
          if (!newPid || first) return;
          const a = poll.answers.find((x) => x.pid === newPid);
          if (a) {
            first = a;
            resolve();
          }
        };
        s.lineWaiters.push((entry) => {
          const m = /Booting worker with pid (\d+)/.exec(entry.line);
          if (m && !bootEntry && !known.has(Number(m[1]))) {
            bootEntry = entry;
            newPid = Number(m[1]);
            check();
          }
        });
        poll.waiters.push(check);
      });
      const t0 = performance.now();
      process.kill(s.pid, 'SIGTTIN');
      const timedOut = await Promise.race([done.then(() => false), P.sleep(20_000).then(() => true)]);
      poll.stop();
      const after = poll.stats();
      const byPid = {};
      for (const a of poll.answers) if (a.t >= t0) byPid[a.pid] = (byPid[a.pid] || 0) + 1;
      const workersAfter = liveChildren(s.pid);
      await P.sleep(200);
      const stopped = await stop(s, 'spawn');
      const row = {
        trial, kind, newPid,
        bootLineMs: bootEntry ? r2(bootEntry.t - t0) : null,
        firstAnswerMs: first ? r2(first.t - t0) : null,
        timedOut, pollBeforeSignal: before, poll: after, answersAfterSignalByPid: byPid, workersAfter, stopped,
      };
      if (timedOut) note(`spawn: ${kind} trial ${trial}: no answer from a new worker within 20 s (boot line ${bootEntry ? 'seen' : 'not seen'})`);
      if (after.errors) note(`spawn: ${kind} trial ${trial}: ${after.errors} poll requests failed`);
      log(`spawn t${trial} ${kind}: boot line ${row.bootLineMs} ms, first answer from ${newPid} ${row.firstAnswerMs} ms (${after.answered - before.answered} answers polled meanwhile)`);
      rows.push(row);
    }
  }
  const sum = {};
  for (const kind of KINDS) {
    const mine = rows.filter((r) => r.kind === kind);
    sum[kind] = {
      trials: mine.length, firstAnswerMs: r2(median(mine.map((r) => r.firstAnswerMs))), bootLineMs: r2(median(mine.map((r) => r.bootLineMs))),
      firstAnswerMsAll: mine.map((r) => r.firstAnswerMs), failures: mine.filter((r) => r.timedOut).length,
    };
  }
  results.spawn = { rows, summary: sum, ratio: { firstAnswer: ratio(sum.forkserve.firstAnswerMs, sum.cluster.firstAnswerMs) } };
}

async function spread() {
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of KINDS) {
      if (timeLeft() < 45_000) {
        note(`spread: round ${round} ${kind} skipped (deadline)`);
        continue;
      }
      const s = await start(kind, APP_PID);
      await countPids(s.port, 100, 4); // warm
      const concurrent = await countPids(s.port, Number(opt['spread-requests']), Number(opt['spread-concurrency']));
      const sequential = await countPids(s.port, Number(opt['spread-sequential']), 1);
      // wrk's start: --spread-concurrency connections opened at once (one request each), 5 times
      const bursts = [];
      for (let b = 0; b < 5; b++) {
        bursts.push(await countPids(s.port, Number(opt['spread-concurrency']), Number(opt['spread-concurrency'])));
        await P.sleep(100);
      }
      const workersAfter = liveChildren(s.pid);
      const stopped = await stop(s, 'spread');
      for (const [name, r] of [['concurrent', concurrent], ['sequential', sequential]]) {
        if (r.errors || r.non200) note(`spread: ${kind} round ${round} ${name}: ${r.errors} errors, ${r.non200} non-200`);
        const unknown = Object.keys(r.counts).filter((p) => !s.workers.includes(Number(p)));
        if (unknown.length) note(`spread: ${kind} round ${round} ${name}: answers from pids that were not workers at start: ${unknown.join(', ')}`);
      }
      log(`spread r${round} ${kind}: c${concurrent.concurrency} ${JSON.stringify(concurrent.counts)} (busiest ${concurrent.busiestShare}); c1 ${JSON.stringify(sequential.counts)} (busiest ${sequential.busiestShare})`);
      log(`spread r${round} ${kind}: bursts of ${opt['spread-concurrency']}: ${bursts.map((b) => JSON.stringify(Object.values(b.counts))).join(' ')}`);
      rows.push({ round, kind, workers: s.workers, concurrent, sequential, bursts, workersAfter, stopped });
    }
  }
  const sum = {};
  for (const kind of KINDS) {
    const mine = rows.filter((r) => r.kind === kind);
    sum[kind] = {
      rounds: mine.length,
      concurrentBusiestShare: r3(median(mine.map((r) => r.concurrent.busiestShare))),
      concurrentBusiestShareAll: mine.map((r) => r.concurrent.busiestShare),
      concurrentRps: r1(median(mine.map((r) => r.concurrent.total / r.concurrent.seconds))),
      sequentialBusiestShare: r3(median(mine.map((r) => r.sequential.busiestShare))),
      sequentialBusiestShareAll: mine.map((r) => r.sequential.busiestShare),
      burstBusiestShare: r3(median(mine.flatMap((r) => r.bursts.map((b) => b.busiestShare)))),
      burstsAllToOneWorker: mine.reduce((a, r) => a + r.bursts.filter((b) => b.busiestShare === 1).length, 0),
      bursts: mine.reduce((a, r) => a + r.bursts.length, 0),
      errors: mine.reduce((a, r) => a + r.concurrent.errors + r.concurrent.non200 + r.sequential.errors + r.sequential.non200 + r.bursts.reduce((x, b) => x + b.errors + b.non200, 0), 0),
    };
  }
  results.spread = { rows, summary: sum };
}

async function gc() {
  const rows = [];
  const rounds = Number(opt['gc-rounds']);
  for (let round = 1; round <= rounds; round++) {
    for (const kind of KINDS) {
      if (timeLeft() < 90_000) {
        note(`gc: round ${round} ${kind} skipped (deadline)`);
        continue;
      }
      const s = await start(kind, APP_100MB, { timeoutMs: 90_000 });
      // every worker creates its GC observer at its first request
      const init = await askEach(s.port, s.workers, '/gc-stats');
      await P.sleep(500);
      const pssBefore = pssSum(s);
      const before = await askEach(s.port, s.workers, '/gc-stats');
      const wrk = await L.wrk(`http://127.0.0.1:${s.port}/alloc`, { seconds: Number(opt['wrk-seconds']), concurrency: Number(opt['wrk-connections']), threads: 1 });
      await P.sleep(500);
      const after = await askEach(s.port, s.workers, '/gc-stats');
      const pssAfter = pssSum(s);
      const stopped = await stop(s, 'gc');
      const per = {};
      let count = 0;
      let ms = 0;
      let majorCount = 0;
      let majorMs = 0;
      for (const pid of s.workers) {
        const a = after.got[pid];
        const b = before.got[pid];
        if (!a || !b) continue;
        const kinds = {};
        for (const k of Object.keys(a.byKind)) {
          const kb = b.byKind[k] || { count: 0, ms: 0 };
          kinds[k] = { count: a.byKind[k].count - kb.count, ms: r2(a.byKind[k].ms - kb.ms) };
        }
        per[pid] = { count: a.count - b.count, ms: r2(a.ms - b.ms), byKind: kinds, heapUsedMb: a.heapUsedMb };
        count += per[pid].count;
        ms += a.ms - b.ms;
        majorCount += kinds.major ? kinds.major.count : 0;
        majorMs += kinds.major ? kinds.major.ms : 0;
      }
      const missing = [...new Set([...init.missing, ...before.missing, ...after.missing])];
      if (missing.length) note(`gc: ${kind} round ${round}: no /gc-stats answer from worker(s) ${missing.join(', ')}`);
      if (wrk.failed) note(`gc: ${kind} round ${round}: wrk ${wrk.failed} failed ${JSON.stringify(wrk.socketErrors)}`);
      const row = {
        round, kind, wrk, perWorker: per, gcCount: count, gcMs: r2(ms), majorCount, majorMs: r2(majorMs),
        gcMsPer1000Requests: wrk.requests ? r2((ms / wrk.requests) * 1000) : null,
        pssBeforeMb: mb(pssBefore.pssKb), pssAfterMb: mb(pssAfter.pssKb), privateDirtyBeforeMb: mb(pssBefore.privateDirtyKb), privateDirtyAfterMb: mb(pssAfter.privateDirtyKb),
        pssBefore: pssBefore.per, pssAfter: pssAfter.per, missing, stopped,
      };
      log(`gc r${round} ${kind}: /alloc ${wrk.rps} req/s p99 ${wrk.p99} ms; GC ${count} events ${r1(ms)} ms (major ${majorCount}, ${r1(majorMs)} ms); PSS ${row.pssBeforeMb} -> ${row.pssAfterMb} MB`);
      rows.push(row);
    }
  }
  const sum = {};
  for (const kind of KINDS) {
    const mine = rows.filter((r) => r.kind === kind);
    sum[kind] = {
      rounds: mine.length, rps: r1(median(mine.map((r) => r.wrk.rps))), p99: r2(median(mine.map((r) => r.wrk.p99))),
      gcCount: median(mine.map((r) => r.gcCount)), gcMs: r1(median(mine.map((r) => r.gcMs))), gcMsPer1000Requests: r2(median(mine.map((r) => r.gcMsPer1000Requests))),
      majorCount: median(mine.map((r) => r.majorCount)), majorMs: r1(median(mine.map((r) => r.majorMs))),
      pssBeforeMb: r1(median(mine.map((r) => r.pssBeforeMb))), pssAfterMb: r1(median(mine.map((r) => r.pssAfterMb))),
    };
  }
  results.gc = { rows, summary: sum, ratio: { rps: ratio(sum.forkserve.rps, sum.cluster.rps), gcMsPer1000Requests: ratio(sum.forkserve.gcMsPer1000Requests, sum.cluster.gcMsPer1000Requests) } };
}

// ------------------------------------------------------------------------------------------------
// Report

function markdown(doc) {
  const opt = doc.options;
  const results = doc.results;
  const f = (x) => (x === null || x === undefined ? 'n/a' : String(x));
  const met = (value, goal, op) => (value === null || value === undefined ? 'n/a' : (op === '>=' ? value >= goal : value <= goal) ? 'yes' : 'no');
  const out = [];
  out.push(`# forkserve pre-fork server vs Node cluster, ${doc.date}`, '');
  out.push(`${doc.machine.cpus} × ${doc.machine.model}, Linux ${doc.machine.release}, Node ${doc.node}, commit ${doc.commit}. ` +
    `${opt.workers} workers each side; load avg at start ${doc.machine.loadavgStart.join(' ')} (another CI run shared the machine). ` +
    `Interleaved rounds (forkserve, cluster, forkserve, ...), each server started fresh per measurement; medians. ` +
    `Total ${doc.minutes} min. Reproduce: \`node bench/prefork.js\`.`, '');
  out.push('| measurement | forkserve | cluster | forkserve / cluster | goal | met |', '|---|---|---|---|---|---|');
  const t = results.throughput;
  if (t) {
    const a = t.summary.forkserve;
    const b = t.summary.cluster;
    out.push(`| Express /hello, wrk -t1 -c20 -d${opt['wrk-seconds']}s (keep-alive), req/s | ${f(a.wrkRps)} | ${f(b.wrkRps)} | ${f(t.ratio.wrkRps)} | ≥ 1.0 | ${met(t.ratio.wrkRps, 1, '>=')} |`);
    out.push(`| … p99 ms | ${f(a.wrkP99)} | ${f(b.wrkP99)} | ${f(t.ratio.wrkP99)} | | |`);
    out.push(`| Express /hello, ab -n ${opt['ab-requests']} -c ${opt['ab-concurrency']} (no keep-alive), req/s | ${f(a.abRps)} | ${f(b.abRps)} | ${f(t.ratio.abRps)} | ≥ 1.0 | ${met(t.ratio.abRps, 1, '>=')} |`);
    out.push(`| … p99 ms | ${f(a.abP99)} | ${f(b.abP99)} | ${f(t.ratio.abP99)} | | |`);
    out.push(`| req/s per round, wrk (forkserve / cluster) | ${a.wrkRpsAll.map(r1).join(', ')} | ${b.wrkRpsAll.map(r1).join(', ')} | median of round ratios ${f(t.ratio.wrkRpsMedianOfRoundRatios)} | | |`);
    out.push(`| req/s per round, ab | ${a.abRpsAll.map(r1).join(', ')} | ${b.abRpsAll.map(r1).join(', ')} | median of round ratios ${f(t.ratio.abRpsMedianOfRoundRatios)} | | |`);
    out.push(`| failed requests (wrk / ab, all rounds) | ${a.wrkFailed} / ${a.abFailed} | ${b.wrkFailed} / ${b.abFailed} | | | |`);
    out.push(`| busiest worker's share of worker CPU (wrk / ab) | ${f(a.wrkWorkerBusiestCpuShare)} / ${f(a.abWorkerBusiestCpuShare)} | ${f(b.wrkWorkerBusiestCpuShare)} / ${f(b.abWorkerBusiestCpuShare)} | | | |`);
  }
  const m = results.memory;
  if (m) {
    out.push(`| ~97 MB app, PSS master + ${opt.workers} workers after ${opt['memory-requests']} requests, MB | ${f(m.summary.forkserve.pssMb)} | ${f(m.summary.cluster.pssMb)} | ${f(m.ratio.pss)} | ≤ 0.5 | ${met(m.ratio.pss, 0.5, '<=')} |`);
    out.push(`| … RSS sum / private dirty sum, MB | ${f(m.summary.forkserve.rssMb)} / ${f(m.summary.forkserve.privateDirtyMb)} | ${f(m.summary.cluster.rssMb)} / ${f(m.summary.cluster.privateDirtyMb)} | | | |`);
    const masterRss = mb(median(m.rows.filter((r) => r.kind === 'forkserve').map((r) => (r.per.find((x) => x.role === 'master') || {}).rssKb)));
    out.push(`| … forkserve master's RSS alone (≈ one copy of the app, roughly the floor of forkserve's PSS sum with any worker count) | ${f(masterRss)} | | ≈ floor ${f(ratio(masterRss, m.summary.cluster.pssMb))} | | |`);
  }
  const s = results.spawn;
  if (s) {
    out.push(`| TTIN → new worker's first answer, ms (median of ${s.summary.forkserve.trials}) | ${f(s.summary.forkserve.firstAnswerMs)} | ${f(s.summary.cluster.firstAnswerMs)} | ${f(s.ratio.firstAnswer)} | ≤ 0.05 | ${met(s.ratio.firstAnswer, 0.05, '<=')} |`);
    out.push(`| … all trials, ms | ${s.summary.forkserve.firstAnswerMsAll.join(', ')} | ${s.summary.cluster.firstAnswerMsAll.join(', ')} | | | |`);
    out.push(`| … TTIN → "Booting worker" line, ms | ${f(s.summary.forkserve.bootLineMs)} | ${f(s.summary.cluster.bootLineMs)} | | | |`);
  }
  const p = results.spread;
  if (p) {
    out.push(`| busiest worker's share, ${opt['spread-requests']} fresh connections, ${opt['spread-concurrency']} at a time (0.5 = even) | ${f(p.summary.forkserve.concurrentBusiestShare)} | ${f(p.summary.cluster.concurrentBusiestShare)} | | | |`);
    out.push(`| busiest worker's share, ${opt['spread-sequential']} sequential fresh connections | ${f(p.summary.forkserve.sequentialBusiestShare)} | ${f(p.summary.cluster.sequentialBusiestShare)} | | | |`);
    out.push(`| busiest worker's share, bursts of ${opt['spread-concurrency']} connections opened at once (bursts all on one worker) | ${f(p.summary.forkserve.burstBusiestShare)} (${p.summary.forkserve.burstsAllToOneWorker}/${p.summary.forkserve.bursts}) | ${f(p.summary.cluster.burstBusiestShare)} (${p.summary.cluster.burstsAllToOneWorker}/${p.summary.cluster.bursts}) | | | |`);
    out.push(`| failed requests in these (all rounds) | ${p.summary.forkserve.errors} | ${p.summary.cluster.errors} | | | |`);
  }
  const g = results.gc;
  if (g) {
    const a = g.summary.forkserve;
    const b = g.summary.cluster;
    out.push(`| ~97 MB app, GET /alloc wrk -c20 -d${opt['wrk-seconds']}s, req/s (p99 ms) | ${f(a.rps)} (${f(a.p99)}) | ${f(b.rps)} (${f(b.p99)}) | ${f(g.ratio.rps)} | | |`);
    out.push(`| … worker GC pause ms per 1000 requests (all GCs; major count / ms) | ${f(a.gcMsPer1000Requests)} (${f(a.majorCount)} / ${f(a.majorMs)}) | ${f(b.gcMsPer1000Requests)} (${f(b.majorCount)} / ${f(b.majorMs)}) | ${f(g.ratio.gcMsPer1000Requests)} | | |`);
    out.push(`| … PSS before → after the load, MB | ${f(a.pssBeforeMb)} → ${f(a.pssAfterMb)} | ${f(b.pssBeforeMb)} → ${f(b.pssAfterMb)} | | | |`);
  }
  out.push('');
  if (doc.notes.length) {
    out.push('## Notes', '');
    for (const n of doc.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

/** mtimes of the built files the run uses: a rebuild during the run is noted. */
function builtFiles() {
  const out = {};
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (f.endsWith('.js') || f.endsWith('.node')) out[path.relative(ROOT, f)] = fs.statSync(f).mtimeMs;
    }
  };
  for (const d of ['dist', path.join('build', 'Release')]) {
    try {
      walk(path.join(ROOT, d));
    } catch {}
  }
  return out;
}

async function main() {
  if (opt['from-json']) {
    const doc = JSON.parse(fs.readFileSync(opt['from-json'], 'utf8'));
    const file = opt['from-json'].replace(/\.json$/, '.md');
    fs.writeFileSync(file, markdown(doc));
    process.stdout.write(markdown(doc) + '\n');
    return;
  }
  const built0 = builtFiles();
  for (const f of [FORKSERVE, CLUSTER]) if (!fs.existsSync(f)) throw new Error(`${f} is missing`);
  for (const tool of ['ab', 'wrk']) if (!P.which(tool)) throw new Error(`${tool} is not installed`);
  const loadavgStart = os.loadavg().map(r2);
  log(`forkserve vs cluster, ${WORKERS} workers; sections ${[...SECTIONS].join(', ')}; load avg ${loadavgStart.join(' ')}`);
  const steps = { throughput, memory, spawn: spawnTime, spread, gc };
  const sectionErrors = {};
  for (const [name, fn] of Object.entries(steps)) {
    if (!SECTIONS.has(name)) continue;
    if (timeLeft() < 30_000) {
      note(`${name}: skipped (deadline)`);
      continue;
    }
    log(`--- ${name}`);
    try {
      await fn();
    } catch (err) {
      sectionErrors[name] = String(err && err.stack ? err.stack : err);
      note(`${name}: failed: ${String(err && err.message ? err.message : err).split('\n').slice(0, 3).join(' | ')}`);
    }
  }
  const built1 = builtFiles();
  const changed = [...new Set([...Object.keys(built0), ...Object.keys(built1)])].filter((f) => built0[f] !== built1[f]);
  if (changed.length) note(`dist/ or build/ changed during the run (${changed.length} files, e.g. ${changed.slice(0, 3).join(', ')}): the figures may mix two builds`);
  const left = sweep();
  if (left.length) note(`sweep: SIGKILLed leftover server processes ${left.join(', ')}`);
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const doc = {
    date: opt.date,
    startedAt: new Date(T_START).toISOString(),
    minutes: r1((Date.now() - T_START) / 60_000),
    node: process.version,
    commit: (git.stdout || '').trim() || null,
    builtAt: new Date(Math.max(...Object.values(built1), 0)).toISOString(),
    machine: { cpus: os.cpus().length, model: (os.cpus()[0] || {}).model, release: os.release(), memGb: Math.round(os.totalmem() / 2 ** 30), loadavgStart, loadavgEnd: os.loadavg().map(r2) },
    options: opt,
    commands: {
      forkserve: `node dist/forkserve.js -w ${WORKERS} --port 0 --host 127.0.0.1 <app>`,
      cluster: `node bench/servers/express-cluster.js --workers ${WORKERS} --port 0 --host 127.0.0.1 --app <app>`,
      apps: { throughput: APP_EXPRESS, memory: APP_100MB, spawn: APP_PID, spread: APP_PID, gc: APP_100MB },
    },
    results,
    sectionErrors,
    notes,
  };
  fs.mkdirSync(opt.out, { recursive: true });
  const base = path.join(opt.out, `prefork-${opt.date}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(doc, null, 2) + '\n');
  const md = markdown(doc);
  fs.writeFileSync(`${base}.md`, md);
  process.stdout.write(md + '\n');
  log(`wrote ${base}.json and ${base}.md`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  P.killAll();
  sweep();
  process.exit(1);
});
