#!/usr/bin/env node
// What --no-preload costs: forkserve's pre-fork server with the app loaded once by the master before
// the fork (the default: workers share its pages copy-on-write) against each worker loading the app
// itself after the fork (--no-preload, gunicorn's default), same app, same worker count, in one run
// with interleaved rounds and medians, for a busy 2-core machine:
//
//   node bench/preload.js                         (about 5 minutes; deadline --max-minutes 20)
//   node bench/preload.js --rounds 1 --load-seconds 2 --out /tmp/preload-smoke     (a smoke run)
//   node bench/preload.js --apps cache --rounds 3 --json       (one app; the JSON document on stdout)
//   node bench/preload.js --from-json bench/results/preload-2026-12-07.json   (rewrite the .md only)
//
// A = node dist/forkserve.js -w 4 --port 0 --host 127.0.0.1 --status-socket S <app>
// B = the same with --no-preload
// Apps: express = examples/express/app.js:app (Express and its dependencies, no data; load: GET
// /hello); cache = bench/apps/preload-cache.js:app (Express plus a Map of ~50 MB of retained JS
// objects built at load, like a big in-memory cache; load: GET /sample, which reads 200 entries).
//
// Each round runs every app in both modes, the order of the modes alternating from round to round
// (A B, then B A, ...); every server is started fresh, detached in its own process group, and
// stopped by killing that group (SIGTERM, 5 s, SIGKILL). For each start:
//  1. boot: the time from spawn() to the serving line, to each "Booting worker with pid N" line,
//     and to all --workers workers ready. Ready is judged by the master's status socket
//     (--status-socket, polled every --poll-ms by connecting to it from here; no node process per
//     poll): a worker is ready when its state is "idle" (or "busy"), which the master reads from
//     the scoreboard flag a worker sets when it starts accepting, after it has loaded the app
//     (--no-preload) and run postFork. HTTP polling cannot ask a given worker (whichever worker
//     wins accept() answers) and would load the machine while the workers boot.
//  2. CPU: each worker's utime + stime (/proc/<pid>/stat, all its threads) read at the poll where it
//     is first seen ready (CPU since its fork: the load of the app with --no-preload); the master's
//     when it prints the last "Booting worker" line (with preload: node's start, the app's load and
//     the forks) and when all are ready (it also answers the status polls, each of which reads
//     every process's smaps_rollup).
//  3. memory: the sum of Pss over master + workers (/proc/<pid>/smaps_rollup), at once when all are
//     ready, 1 s later (in the JSON only), and right after --load-seconds of
//     wrk -t2 -c20 (keep-alive; autocannon from node_modules if wrk is missing).
//  4. under that load: req/s, the workers' CPU per request (utime + stime deltas) and their minor
//     page faults (copy-on-write faults among them).
// Before the rounds, one discarded preload boot per app warms the page cache (--no-warmup: none).
//
// Output: <out>/preload-<date>.json (everything) and <out>/preload-<date>.md (the table), the
// table also on stdout (the JSON document instead with --json). Linux only (/proc). Uses
// child_process freely (the benchmark never forks with forkserve itself); every wait is bounded.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { parseArgs } = require('node:util');
const P = require('./lib/proc');
const L = require('./lib/load');
const { finite, median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const NODE = process.execPath;
const FORKSERVE = path.join(ROOT, 'dist', 'forkserve.js');
const APPS = {
  express: { spec: 'examples/express/app.js:app', url: '/hello', what: 'examples/express/app.js (Express, no data)' },
  cache: { spec: 'bench/apps/preload-cache.js:app', url: '/sample', what: 'bench/apps/preload-cache.js (Express + ~50 MB cache)' },
};
const MODES = ['preload', 'no-preload'];

const { values: opt } = parseArgs({
  options: {
    workers: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    apps: { type: 'string', default: 'express,cache' },
    'load-seconds': { type: 'string', default: '5' },
    'wrk-threads': { type: 'string', default: '2' },
    'wrk-connections': { type: 'string', default: '20' },
    'poll-ms': { type: 'string', default: '25' },
    'boot-timeout': { type: 'string', default: '60' },
    'no-warmup': { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '20' },
    'from-json': { type: 'string' },
    date: { type: 'string', default: new Date().toISOString().slice(0, 10) },
    out: { type: 'string', default: path.join(__dirname, 'results') },
    'no-write': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}

const WORKERS = Number(opt.workers);
const ROUNDS = Number(opt.rounds);
const LOAD_SECONDS = Number(opt['load-seconds']);
const POLL_MS = Number(opt['poll-ms']);
const BOOT_TIMEOUT_MS = Number(opt['boot-timeout']) * 1000;
const APP_IDS = opt.apps.split(',').map((s) => s.trim()).filter(Boolean);
for (const a of APP_IDS) if (!APPS[a]) throw new Error(`unknown app ${a} (express, cache)`);
const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100);
const T_START = Date.now();
const DEADLINE = T_START + Number(opt['max-minutes']) * 60_000;

const notes = [];
function log(text) {
  process.stderr.write(`[${((Date.now() - T_START) / 1000).toFixed(0).padStart(4)}s] ${text}\n`);
}
function note(text) {
  notes.push(text);
  log(`note: ${text}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const min = (a) => (finite(a).length ? Math.min(...finite(a)) : null);
const max = (a) => (finite(a).length ? Math.max(...finite(a)) : null);
const r0 = (x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x) : null);
const r1 = (x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
const r2 = (x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
const mb = (kb) => (typeof kb === 'number' ? r1(kb / 1024) : null);
const cpuMs = (pid) => {
  const t = P.cpuTicks(pid);
  return (t.utime + t.stime) * TICK_MS;
};
/** Minor page faults of pid (field 10 of /proc/<pid>/stat; a copy-on-write fault is one). */
function minflt(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[7]);
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------------------
// Servers: spawned detached (their own process group), stopped by killing the group

const groups = new Set(); // process group ids (= master pids) not yet seen gone
const seen = new Set(); // every master and worker pid: swept at the end
let tmp = null; // a private directory for the status sockets, made by main()

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function sweep() {
  for (const g of groups) killGroup(g, 'SIGKILL');
  const left = [...seen].filter(P.alive);
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
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  });
}

/** One line of JSON from the master's status socket, or null (not there yet, timeout, garbage). */
function status(sock, timeoutMs = 2000) {
  return new Promise((resolve) => {
    let buf = '';
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const s = net.connect(sock);
    const timer = setTimeout(() => finish(null), timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (d) => { buf += d; });
    s.on('end', () => {
      try {
        finish(JSON.parse(buf));
      } catch {
        finish(null);
      }
    });
    s.on('error', () => finish(null));
  });
}

/** One GET on a fresh connection: { status } or { error }. */
function get(port, urlPath, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
      res.on('error', (e) => resolve({ error: e.code || e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
  });
}

function pssSum(masterPid, workerPids) {
  const per = [masterPid, ...workerPids].map((pid) => ({ pid, role: pid === masterPid ? 'master' : 'worker', ...P.rollup(pid) }));
  const sum = (k) => per.reduce((a, x) => a + (x[k] || 0), 0);
  return { pssKb: sum('pssKb'), rssKb: sum('rssKb'), privateDirtyKb: sum('privateDirtyKb'), per: per.map((x) => ({ pid: x.pid, role: x.role, pssKb: x.pssKb, rssKb: x.rssKb, privateDirtyKb: x.privateDirtyKb })) };
}

/**
 * Starts forkserve, waits until WORKERS workers are ready; resolves with the boot figures and a
 * handle to stop it. Never rejects: a failure is { error } (the server already stopped).
 */
async function boot(appId, mode) {
  const sock = path.join(tmp, `s-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.sock`);
  const args = [FORKSERVE, '-w', String(WORKERS), '--port', '0', '--host', '127.0.0.1', '--status-socket', sock];
  if (mode === 'no-preload') args.push('--no-preload');
  args.push(APPS[appId].spec);
  const t0 = performance.now();
  const proc = spawn(NODE, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const s = { appId, mode, proc, pid: proc.pid, sock, port: null, servingMs: null, bootLines: [], stderr: '', exited: null };
  groups.add(proc.pid);
  seen.add(proc.pid);
  proc.on('exit', (code, signal) => { s.exited = { code, signal }; });
  proc.on('error', (e) => { s.exited = { error: String(e) }; });
  proc.stderr.on('data', (d) => { s.stderr = (s.stderr + d).slice(-4000); });
  let buf = '';
  proc.stdout.on('data', (d) => {
    const t = performance.now() - t0;
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m;
      if (s.port === null && (m = /^Serving HTTP on port (\d+)/.exec(line))) {
        s.port = Number(m[1]);
        s.servingMs = t;
      } else if ((m = /Booting worker with pid (\d+)/.exec(line))) {
        s.bootLines.push({ pid: Number(m[1]), ms: t });
        seen.add(Number(m[1]));
        if (s.bootLines.length === WORKERS) s.masterCpuAtForksMs = cpuMs(proc.pid);
      }
    }
  });
  // Poll the status socket until WORKERS workers are ready; read each worker's CPU when first seen so.
  const workerReady = new Map(); // pid -> { ms, cpuMs }
  const until = t0 + BOOT_TIMEOUT_MS;
  let polls = 0;
  let last = null;
  while (performance.now() < until && !s.exited) {
    const st = await status(sock);
    if (st) {
      polls++;
      last = st;
      const t = performance.now() - t0;
      for (const w of st.workers || []) {
        seen.add(w.pid);
        if ((w.state === 'idle' || w.state === 'busy') && !workerReady.has(w.pid)) workerReady.set(w.pid, { ms: t, cpuMs: cpuMs(w.pid) });
      }
      if (workerReady.size >= WORKERS) break;
    }
    await sleep(POLL_MS);
  }
  const readyMs = performance.now() - t0;
  if (workerReady.size < WORKERS) {
    const why = s.exited ? `the master exited (${JSON.stringify(s.exited)})` : `${workerReady.size}/${WORKERS} workers ready after ${BOOT_TIMEOUT_MS / 1000} s`;
    const states = last ? last.workers.map((w) => `${w.pid}:${w.state}`).join(' ') : 'no status answer';
    await stop(s);
    return { error: `${appId} ${mode}: ${why} (${states}); stderr: ${s.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  }
  s.masterCpuMs = cpuMs(s.pid);
  s.pssBoot = pssSum(s.pid, [...workerReady.keys()]);
  s.readyMs = readyMs;
  s.polls = polls;
  s.workers = [...workerReady.entries()].map(([pid, w]) => ({ pid, readyMs: w.ms, cpuMs: w.cpuMs }));
  return s;
}

/** SIGTERM to the group, up to 5 s for the master to exit, then SIGKILL to the group and leftovers. */
async function stop(s) {
  const exited = new Promise((r) => (s.exited ? r() : s.proc.once('exit', r)));
  killGroup(s.pid, 'SIGTERM');
  const graceful = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!graceful) {
    note(`${s.appId} ${s.mode}: the master did not exit within 5 s of SIGTERM; SIGKILL to its group`);
    killGroup(s.pid, 'SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  }
  await sleep(100);
  killGroup(s.pid, 'SIGKILL'); // workers still finishing after the master (there should be none)
  groups.delete(s.pid);
  const left = [...seen].filter(P.alive);
  if (left.length) {
    note(`${s.appId} ${s.mode}: processes ${left.join(', ')} alive after the stop: SIGKILLed`);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  return graceful;
}

// ------------------------------------------------------------------------------------------------
// One measurement: boot, memory, load, memory, stop

const tool = L.pickTool2('auto');
if (tool.note) note(tool.note);

async function measure(appId, mode, round) {
  const load0 = os.loadavg()[0];
  const s = await boot(appId, mode);
  if (s.error) {
    note(`round ${round}: ${s.error}`);
    return { round, app: appId, mode, error: s.error };
  }
  const workerPids = s.workers.map((w) => w.pid);
  await sleep(1000);
  const pssBoot1s = pssSum(s.pid, workerPids);
  const check = await get(s.port, APPS[appId].url);
  if (check.status !== 200) note(`round ${round} ${appId} ${mode}: GET ${APPS[appId].url} after boot: ${JSON.stringify(check)}`);
  const url = `http://127.0.0.1:${s.port}${APPS[appId].url}`;
  let load = null;
  const cpu0 = workerPids.map(cpuMs);
  const flt0 = workerPids.map(minflt);
  if (tool.run) {
    const conc = Number(opt['wrk-connections']);
    load = await tool.run(url, { seconds: LOAD_SECONDS, concurrency: conc, threads: Number(opt['wrk-threads']) });
    if (!load.ok || load.failed) note(`round ${round} ${appId} ${mode}: ${load.tool} ${load.ok ? `${load.failed} failed` : load.error}`);
  }
  const pssLoad = pssSum(s.pid, workerPids);
  const loadCpuMs = workerPids.map(cpuMs).reduce((a, x, i) => a + x - cpu0[i], 0);
  const loadFaults = workerPids.map(minflt).reduce((a, x, i) => a + x - flt0[i], 0);
  const after = P.children(s.pid).filter((c) => !c.stat.startsWith('Z')).map((c) => c.pid);
  const changed = after.length !== workerPids.length || after.some((p) => !workerPids.includes(p));
  if (changed) note(`round ${round} ${appId} ${mode}: workers changed during the run: ${workerPids.join(',')} -> ${after.join(',')}`);
  const graceful = await stop(s);
  const workerCpu = s.workers.map((w) => w.cpuMs);
  const row = {
    round, app: appId, mode, loadavg1: r2(load0),
    servingMs: r1(s.servingMs),
    bootLineMs: s.bootLines.map((b) => r1(b.ms)),
    readyMs: r1(s.readyMs),
    workerReadyMs: s.workers.map((w) => r1(w.readyMs)),
    workerCpuMs: workerCpu.map(r0),
    workerCpuMeanMs: r0(workerCpu.reduce((a, b) => a + b, 0) / workerCpu.length),
    masterCpuMs: r0(s.masterCpuMs),
    masterCpuAtForksMs: r0(s.masterCpuAtForksMs),
    bootCpuMs: r0(s.masterCpuMs + workerCpu.reduce((a, b) => a + b, 0)),
    statusPolls: s.polls,
    pssBootMb: mb(s.pssBoot.pssKb), pssBoot1sMb: mb(pssBoot1s.pssKb), pssLoadMb: mb(pssLoad.pssKb),
    rssBootMb: mb(s.pssBoot.rssKb), privateDirtyBootMb: mb(s.pssBoot.privateDirtyKb), privateDirtyLoadMb: mb(pssLoad.privateDirtyKb),
    masterPssBootMb: mb(s.pssBoot.per[0].pssKb), masterPssLoadMb: mb(pssLoad.per[0].pssKb),
    loadWorkerCpuMs: r0(loadCpuMs),
    cpuPerRequestMs: load && load.requests ? r2(loadCpuMs / load.requests) : null,
    loadWorkerMinorFaults: loadFaults,
    load: load && { tool: load.tool, ok: load.ok, rps: load.rps, requests: load.requests, failed: load.failed, p50: load.p50, p99: load.p99, error: load.error },
    perProcess: { boot: s.pssBoot.per, afterLoad: pssLoad.per },
    workersChanged: changed, graceful,
  };
  log(`r${round} ${appId.padEnd(7)} ${mode.padEnd(10)}: ready ${row.readyMs} ms (serving line ${row.servingMs}), worker CPU ${row.workerCpuMs.join('/')} ms, master ${row.masterCpuMs} ms; PSS ${row.pssBootMb} -> ${row.pssLoadMb} MB; ${load ? `${load.rps} req/s, ${row.cpuPerRequestMs} ms worker CPU/request, ${loadFaults} minor faults` : 'no load'}`);
  return row;
}

// ------------------------------------------------------------------------------------------------
// Summary and report

const FIELDS = ['readyMs', 'servingMs', 'workerCpuMeanMs', 'masterCpuAtForksMs', 'masterCpuMs', 'bootCpuMs', 'pssBootMb', 'pssBoot1sMb', 'pssLoadMb', 'privateDirtyBootMb', 'privateDirtyLoadMb', 'rps', 'cpuPerRequestMs', 'loadWorkerMinorFaults'];
const val = (row, k) => (k === 'rps' ? (row.load ? row.load.rps : null) : row[k]);

function summarize(rows) {
  const out = {};
  for (const appId of APP_IDS) {
    out[appId] = {};
    for (const mode of MODES) {
      const mine = rows.filter((r) => r.app === appId && r.mode === mode && !r.error);
      const m = { runs: mine.length };
      for (const k of FIELDS) {
        const v = mine.map((r) => val(r, k));
        m[k] = { median: r1(median(v)), min: r1(min(v)), max: r1(max(v)) };
      }
      const all = mine.flatMap((r) => r.workerCpuMs);
      m.workerCpuAllMs = { median: r1(median(all)), min: r1(min(all)), max: r1(max(all)) };
      out[appId][mode] = m;
    }
    // paired by round (both modes ran back to back): no-preload minus preload, and the ratio
    const paired = {};
    for (const k of FIELDS) {
      const diffs = [];
      const ratios = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const a = rows.find((r) => r.round === round && r.app === appId && r.mode === 'preload' && !r.error);
        const b = rows.find((r) => r.round === round && r.app === appId && r.mode === 'no-preload' && !r.error);
        if (!a || !b) continue;
        const va = val(a, k);
        const vb = val(b, k);
        if (typeof va !== 'number' || typeof vb !== 'number') continue;
        diffs.push(vb - va);
        if (va) ratios.push(vb / va);
      }
      paired[k] = { diffMedian: r1(median(diffs)), diffMin: r1(min(diffs)), diffMax: r1(max(diffs)), ratioMedian: r2(median(ratios)), rounds: diffs.length };
    }
    out[appId].paired = paired;
  }
  return out;
}

function markdown(doc) {
  const o = doc.options;
  const f = (x) => (x === null || x === undefined ? 'n/a' : String(x));
  const cell = (m) => (m && m.median !== null ? `${f(m.median)} (${f(m.min)}–${f(m.max)})` : 'n/a');
  const pcell = (p) => (p && p.diffMedian !== null ? `${p.diffMedian > 0 ? '+' : ''}${f(p.diffMedian)} (${f(p.diffMin)}…${f(p.diffMax)}); ×${f(p.ratioMedian)}` : 'n/a');
  const out = [];
  out.push(`# forkserve: preload (default) vs --no-preload, ${doc.date}`, '');
  out.push(`${doc.machine.cpus} × ${doc.machine.model}, Linux ${doc.machine.release}, Node ${doc.node}, commit ${f(doc.commit)}. ` +
    `\`forkserve -w ${o.workers}\`, ${doc.rounds} interleaved rounds (the order of the modes alternates), every server started fresh; ` +
    `median (min–max over rounds); the last column is the per-round difference no-preload − preload, median (min…max), and the median per-round ratio. ` +
    `Load average (1 min) at start ${doc.machine.loadavgStart.join(' ')}, at the end ${doc.machine.loadavgEnd.join(' ')}: the machine was shared. Total ${doc.minutes} min.`, '');
  out.push(`Command: \`${doc.command}\``, '');
  const LABEL = {
    readyMs: `spawn → all ${o.workers} workers ready (status socket: "idle"), ms`,
    servingMs: 'spawn → serving line, ms',
    workerCpuMeanMs: 'CPU per worker when it is ready (utime+stime, mean of the workers), ms',
    masterCpuAtForksMs: 'master CPU when it has forked the last worker, ms',
    masterCpuMs: 'master CPU when all are ready (includes answering the status polls), ms',
    bootCpuMs: 'boot CPU, master (when all are ready) + all workers, ms',
    pssBootMb: 'PSS master + workers, at ready, MB',
    pssLoadMb: `PSS master + workers, after ${o['load-seconds']} s of load, MB`,
    privateDirtyLoadMb: 'private dirty, master + workers, after the load, MB',
    rps: `req/s under the load (${doc.loadTool} -t${o['wrk-threads']} -c${o['wrk-connections']} -d${o['load-seconds']}s)`,
    cpuPerRequestMs: 'worker CPU per request during the load, ms',
    loadWorkerMinorFaults: 'minor page faults in the workers during the load (copy-on-write among them)',
  };
  for (const appId of doc.apps) {
    const s = doc.summary[appId];
    out.push(`## ${APPS[appId].what}, load: GET ${APPS[appId].url}`, '');
    out.push('| measurement | preload | --no-preload | no-preload − preload; ratio |', '|---|---|---|---|');
    for (const k of Object.keys(LABEL)) out.push(`| ${LABEL[k]} | ${cell(s.preload[k])} | ${cell(s['no-preload'][k])} | ${pcell(s.paired[k])} |`);
    out.push('');
  }
  if ((doc.meaning || []).length) {
    out.push('## What it means', '');
    for (const line of doc.meaning) out.push(`- ${line}`);
    out.push('');
  }
  out.push('Readiness: the master\'s `--status-socket`, polled every ' + `${o['poll-ms']} ms from the benchmark (a unix socket connection, no node process per poll); a worker is ready when its state is "idle", i.e. it has set its scoreboard flag after loading the app (--no-preload) and started accepting. ` +
    'Per-worker CPU is read at the poll where the worker is first seen ready (so up to one poll late); clock ticks are 10 ms. ' +
    'The master answers the polls, and each answer reads every process\'s smaps_rollup: about 2 ms of master CPU per poll, so the longer --no-preload boots pay more of it (the difference between the two master CPU rows).', '');
  if (doc.notes.length) {
    out.push('## Notes', '');
    for (const n of doc.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

async function main() {
  if (opt['from-json']) {
    const doc = JSON.parse(fs.readFileSync(opt['from-json'], 'utf8'));
    const file = opt['from-json'].replace(/\.json$/, '.md');
    fs.writeFileSync(file, markdown(doc));
    process.stdout.write(markdown(doc) + '\n');
    return;
  }
  if (!fs.existsSync(FORKSERVE)) throw new Error(`${FORKSERVE} is missing: npm run build`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-preload-'));
  const loadavgStart = os.loadavg().map(r2);
  log(`preload vs --no-preload, ${WORKERS} workers, ${ROUNDS} rounds, apps ${APP_IDS.join(', ')}; load avg ${loadavgStart.join(' ')}`);
  if (!opt['no-warmup']) {
    for (const appId of APP_IDS) {
      const s = await boot(appId, 'preload');
      if (s.error) note(`warm-up: ${s.error}`);
      else await stop(s);
    }
  }
  const rows = [];
  let roundsRun = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    if (round > 1 && DEADLINE - Date.now() < 90_000) {
      note(`rounds ${round}..${ROUNDS} skipped (deadline --max-minutes ${opt['max-minutes']})`);
      break;
    }
    const order = round % 2 ? MODES : [...MODES].reverse();
    for (const appId of APP_IDS) {
      for (const mode of order) rows.push(await measure(appId, mode, round));
    }
    roundsRun = round;
  }
  const left = sweep();
  if (left.length) note(`sweep: SIGKILLed leftover processes ${left.join(', ')}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const doc = {
    date: opt.date,
    startedAt: new Date(T_START).toISOString(),
    minutes: r1((Date.now() - T_START) / 60_000),
    node: process.version,
    commit: (git.stdout || '').trim() || null,
    machine: { cpus: os.cpus().length, model: (os.cpus()[0] || {}).model, release: os.release(), memGb: Math.round(os.totalmem() / 2 ** 30), loadavgStart, loadavgEnd: os.loadavg().map(r2) },
    options: opt,
    command: `node bench/preload.js${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`,
    servers: {
      preload: `node dist/forkserve.js -w ${WORKERS} --port 0 --host 127.0.0.1 --status-socket S <app>`,
      'no-preload': `node dist/forkserve.js -w ${WORKERS} --port 0 --host 127.0.0.1 --status-socket S --no-preload <app>`,
    },
    apps: APP_IDS,
    appSpecs: Object.fromEntries(APP_IDS.map((a) => [a, APPS[a]])),
    loadTool: tool.name,
    rounds: roundsRun,
    clockTickMs: TICK_MS,
    summary: summarize(rows),
    rows,
    notes,
    meaning: [],
  };
  if (!opt['no-write']) {
    fs.mkdirSync(opt.out, { recursive: true });
    const base = path.join(opt.out, `preload-${opt.date}`);
    fs.writeFileSync(`${base}.json`, JSON.stringify(doc, null, 2) + '\n');
    fs.writeFileSync(`${base}.md`, markdown(doc));
    log(`wrote ${base}.json and ${base}.md`);
  }
  process.stdout.write(opt.json ? JSON.stringify(doc) + '\n' : markdown(doc) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  sweep();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
});
