#!/usr/bin/env node
// TCP_NODELAY on accepted connections (issue 27, first item): a response written in two pieces
// (bench/apps/two-writes.js: writeHead + write('hello '), then end('world\n') on the next turn of the
// event loop; in one tick node's ServerResponse corks both into one send) on keep-alive connections,
// forkserve against plain node:http with the same app, in one run with interleaved rounds and
// medians, for a busy 2-core machine:
//
//   node bench/nodelay.js                                  (about 5 minutes with the defaults)
//   node bench/nodelay.js --rounds 5 --json bench/results/nodelay-<date>.json
//   node bench/nodelay.js --rounds 1 --duration 1          (a smoke run)
//   node bench/nodelay.js --servers node,forkserve --variants app --connections 1
//
// Servers (all on 127.0.0.1, port 0, the port read from the first stdout line):
//   node       node bench/servers/node-http-app.js APP          (http.createServer(app), one process)
//   forkserve  node dist/forkserve.js -w 1 --port 0 APP          (the master and one worker)
//   cf         node dist/concurrent-final.js --port 0 --quiet APP   (a child per connection: with
//              one keep-alive connection one child serves every request)
// Variants of the app: app = bench/apps/two-writes.js:app (the socket as the server set it up);
// nagle = bench/apps/two-writes.js:nagle (the app calls req.socket.setNoDelay(false) first: the
// ~40 ms delayed-ACK stall that TCP_NODELAY removes); nagle-same-tick =
// bench/apps/two-writes.js:nagleSameTick (Nagle on, but both pieces in one tick: corked into one
// send, so no stall; not run by default).
// Goal (issue 27): one keep-alive connection, forkserve app ≥ 0.8× node:http app req/s.
//
// Each round starts every server × variant fresh (the order rotates from round to round; forkserve
// and cf detached in their own process group), checks one GET (200, "hello world\n"), warms up with
// wrk -t1 -c1 -d1s, then runs wrk -t1 -c<N> -d<duration>s --latency for every --connections N (the
// order alternates by round), reading the server's CPU (utime + stime of the server and all its
// descendants, reaped ones through cutime + cstime, from /proc/<pid>/stat: bench/lib/proc.js
// cpuTree) before and after each run; then stops it (SIGTERM to the process / group, 3 s, SIGKILL,
// then every descendant seen). Ratios are per round against node:http in the same round and
// scenario (same variant, and the app variant), then the median over the rounds.
//
// Options: --rounds 5 --duration 3 --warmup 1 (seconds; 0: none) --connections 1,10
// --servers node,forkserve,cf --variants app,nagle --max-minutes 15 --json FILE (the whole run)
// --dist DIR (forkserve's built dist/ to run, default ./dist: a copy of dist/ with its addon beside it
// as ../build/Release/forkserve.node keeps a run safe from a rebuild of the checkout meanwhile)
// --from-json FILE (print the table of an earlier run). The table goes to stdout, progress to stderr.
// Linux only (/proc); needs wrk and `npm run build`.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const P = require('./lib/proc');
const L = require('./lib/load');
const { finite, median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const NODE = process.execPath;
const APP_FILE = 'bench/apps/two-writes.js';
const EXPECTED_BODY = 'hello world\n';

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '1,10' },
    servers: { type: 'string', default: 'node,forkserve,cf' },
    variants: { type: 'string', default: 'app,nagle' },
    dist: { type: 'string', default: path.join(ROOT, 'dist') },
    'max-minutes': { type: 'string', default: '15' },
    json: { type: 'string' },
    'from-json': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const DIST = path.resolve(opt.dist);

const SERVERS = {
  node: { label: 'node:http', build: (app) => ({ args: [path.join(__dirname, 'servers', 'node-http-app.js'), '--port', '0', '--host', '127.0.0.1', app] }) },
  forkserve: { label: 'forkserve -w 1', build: (app) => ({ args: [path.join(DIST, 'forkserve.js'), '-w', '1', '--port', '0', '--host', '127.0.0.1', app], workers: 1, detached: true }) },
  cf: { label: 'concurrent-final', build: (app) => ({ args: [path.join(DIST, 'concurrent-final.js'), '--port', '0', '--host', '127.0.0.1', '--quiet', app], detached: true }) },
};
const VARIANTS = {
  app: { label: 'app (as set up)', spec: `${APP_FILE}:app` },
  nagle: { label: 'nagle (setNoDelay(false))', spec: `${APP_FILE}:nagle` },
  'nagle-same-tick': { label: 'Nagle on, both writes in one tick', spec: `${APP_FILE}:nagleSameTick` },
};

if (opt.help) {
  const head = fs.readFileSync(__filename, 'utf8').split("'use strict'")[0];
  process.stdout.write(head.split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const ROUNDS = Number(opt.rounds);
const DURATION = Number(opt.duration);
const WARMUP = Number(opt.warmup);
const CONNS = list(opt.connections).map(Number);
const SERVER_IDS = list(opt.servers);
const VARIANT_IDS = list(opt.variants);
for (const s of SERVER_IDS) if (!SERVERS[s]) throw new Error(`unknown server ${s} (${Object.keys(SERVERS).join(', ')})`);
for (const v of VARIANT_IDS) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} (${Object.keys(VARIANTS).join(', ')})`);
if (!SERVER_IDS.includes('node')) throw new Error('--servers must include node (the baseline)');
for (const c of CONNS) if (!(c >= 1)) throw new Error(`bad --connections ${opt.connections}`);
const OTHER_NOTE_MS = 100 * (DURATION + 0.2); // 10% of one core
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
const rN = (x, n) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10 ** n) / 10 ** n : null);
const stats = (a) => ({ median: median(a), min: finite(a).length ? Math.min(...finite(a)) : null, max: finite(a).length ? Math.max(...finite(a)) : null, n: finite(a).length });

// ------------------------------------------------------------------------------------------------
// Servers

const everyPid = new Set(); // every server process seen: swept at the end

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

/** One GET on a fresh connection: { status, body } or { error }. */
function get(port, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (e) => resolve({ error: e.code || e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
  });
}

/** CPU time the whole machine has been busy (all cores, /proc/stat), ms. */
function machineBusyMs() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
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

async function stop(s, what) {
  for (const d of P.descendants(s.pid)) everyPid.add(d.pid);
  const r = await P.stopServer(s, { graceMs: 3000 });
  if (!r.graceful) note(`${what}: did not exit within 3 s of SIGTERM; SIGKILLed`);
  if (r.killed.length) note(`${what}: ${r.killed.length} process(es) alive after the server exited, SIGKILLed (${r.killed.join(', ')})`);
  if (r.leftovers.length) note(`${what}: leftover processes ${r.leftovers.join(', ')}`);
  return r.graceful;
}

/** One server × variant: start, check, warm up, every scenario, stop. Never rejects. */
async function measure(serverId, variantId, round, conns) {
  const what = `r${round} ${serverId} ${variantId}`;
  const loadavg1 = rN(os.loadavg()[0], 2); // a shared machine shows here
  const built = SERVERS[serverId].build(VARIANTS[variantId].spec);
  let s;
  try {
    s = await P.startServer({ name: `${serverId} ${variantId}`, cmd: NODE, cwd: ROOT, ...built }, { timeoutMs: 20_000 });
  } catch (err) {
    note(`${what}: ${err.message}`);
    return conns.map((c) => ({ round, server: serverId, variant: variantId, connections: c, error: err.message }));
  }
  everyPid.add(s.pid);
  for (const d of P.descendants(s.pid)) everyPid.add(d.pid);
  const rows = [];
  try {
    const check = await get(s.port);
    if (check.status !== 200 || check.body !== EXPECTED_BODY) {
      note(`${what}: GET / answered ${JSON.stringify(check)}`);
      return conns.map((c) => ({ round, server: serverId, variant: variantId, connections: c, error: `bad answer ${JSON.stringify(check)}` }));
    }
    const url = `http://127.0.0.1:${s.port}/`;
    if (WARMUP > 0) await L.wrk(url, { seconds: WARMUP, concurrency: 1, threads: 1 });
    for (const c of conns) {
      await sleep(200);
      const before = cpuMs(s.pid);
      const busy0 = machineBusyMs();
      const bench0 = benchMs();
      const w = await L.wrk(url, { seconds: DURATION, concurrency: c, threads: 1 });
      await sleep(200); // cf: let the connections' children exit and be reaped (counted either way)
      const after = cpuMs(s.pid);
      const busy1 = machineBusyMs();
      const bench1 = benchMs();
      for (const d of P.descendants(s.pid)) everyPid.add(d.pid);
      const selfMs = after.self - before.self;
      const childMs = after.children - before.children;
      const row = {
        round, server: serverId, variant: variantId, connections: c, loadavg1,
        ok: w.ok, rps: w.rps, requests: w.requests, failed: w.failed, p50Ms: w.p50, p99Ms: w.p99,
        cpuSelfMs: rN(selfMs, 0), cpuChildrenMs: rN(childMs, 0),
        cpuUsPerRequest: w.requests ? rN(((selfMs + childMs) * 1000) / w.requests, 1) : null,
        // everything else the machine ran meanwhile (other users of the 2 cores): busy time minus
        // the server tree, wrk and this script; ~0 on a quiet machine, up to 2 s per s when both
        // cores are taken by someone else
        otherCpuMs: busy0 === null ? null : rN(busy1 - busy0 - (selfMs + childMs) - (bench1 - bench0), 0),
        error: w.ok ? undefined : w.error,
      };
      if (!w.ok || w.failed) note(`${what} -c${c}: wrk ${w.ok ? `${w.failed} failed` : w.error}`);
      if (row.otherCpuMs > OTHER_NOTE_MS) note(`${what} -c${c}: ${row.otherCpuMs} ms of CPU used by other processes during the ${DURATION + 0.2} s run`);
      log(`${what.padEnd(22)} -c${String(c).padEnd(3)} ${String(w.rps).padStart(9)} req/s  p50 ${w.p50} ms  p99 ${w.p99} ms  CPU ${row.cpuUsPerRequest} µs/req (self ${row.cpuSelfMs} ms, children ${row.cpuChildrenMs} ms), others ${row.otherCpuMs} ms`);
      rows.push(row);
    }
  } finally {
    await stop(s, what);
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------
// Summary and table

function summarize(doc) {
  const rows = doc.rows.filter((r) => !r.error && r.ok);
  const find = (round, server, variant, c) => rows.find((r) => r.round === round && r.server === server && r.variant === variant && r.connections === c);
  const out = [];
  for (const c of doc.connections) {
    for (const variant of doc.variants) {
      for (const server of doc.servers) {
        const mine = rows.filter((r) => r.server === server && r.variant === variant && r.connections === c);
        const vsSame = [];
        const vsApp = [];
        for (const r of mine) {
          const base = find(r.round, 'node', variant, c);
          const baseApp = find(r.round, 'node', 'app', c);
          if (base && base.rps) vsSame.push(r.rps / base.rps);
          if (baseApp && baseApp.rps) vsApp.push(r.rps / baseApp.rps);
        }
        out.push({
          connections: c, server, variant, runs: mine.length,
          rps: stats(mine.map((r) => r.rps)),
          ratioVsNode: rN(median(vsSame), 3),
          ratioVsNodeApp: rN(median(vsApp), 3),
          p50Ms: rN(median(mine.map((r) => r.p50Ms)), 2),
          p99Ms: rN(median(mine.map((r) => r.p99Ms)), 2),
          cpuUsPerRequest: rN(median(mine.map((r) => r.cpuUsPerRequest)), 1),
          otherCpuMs: rN(median(mine.map((r) => r.otherCpuMs)), 0),
          otherCpuMaxMs: rN(Math.max(...finite(mine.map((r) => r.otherCpuMs))), 0),
          failed: mine.reduce((a, r) => a + (r.failed || 0), 0),
        });
      }
    }
  }
  const g = out.find((x) => x.connections === 1 && x.server === 'forkserve' && x.variant === 'app');
  const goal = g ? { what: 'one keep-alive connection, two-write response: forkserve -w 1 ≥ 0.8× node:http req/s (issue 27)', ratio: g.ratioVsNode, met: g.ratioVsNode !== null ? g.ratioVsNode >= 0.8 : null } : null;
  return { table: out, goal };
}

function markdown(doc) {
  const f = (x, n = 0) => (x === null || x === undefined ? 'n/a' : n ? x.toFixed(n) : Math.round(x).toLocaleString('en-US'));
  const out = [];
  out.push(`wrk -t1 -c<N> -d${doc.duration}s, ${doc.rounds} interleaved rounds, median (min–max) req/s; × node:http: median of the per-round ratios to node:http with the same app variant; CPU: server process tree, µs per request (median); others: CPU ms used by other processes on the machine during the ${doc.duration} s run (median, max).`, '');
  out.push('| connections | app variant | server | req/s | × node:http | p50 ms | p99 ms | CPU µs/req | failed | others ms |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const x of doc.summary.table) {
    const rps = x.rps.median === null ? 'n/a' : `${f(x.rps.median)} (${f(x.rps.min)}–${f(x.rps.max)})`;
    const ratio = x.server === 'node' ? '1' : f(x.ratioVsNode, 2);
    out.push(`| ${x.connections} | ${x.variant} | ${SERVERS[x.server].label} | ${rps} | ${ratio} | ${f(x.p50Ms, 2)} | ${f(x.p99Ms, 2)} | ${f(x.cpuUsPerRequest, 1)} | ${x.failed} | ${f(x.otherCpuMs)}, ${f(x.otherCpuMaxMs)} |`);
  }
  out.push('');
  const g = doc.summary.goal;
  if (g) out.push(`Goal: ${g.what}: ×${f(g.ratio, 2)}, ${g.met ? 'met' : g.met === false ? 'NOT met' : 'n/a'}.`, '');
  if (doc.notes.length) {
    out.push('Notes:', '');
    for (const n of doc.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

// ------------------------------------------------------------------------------------------------

async function main() {
  if (opt['from-json']) {
    process.stdout.write(markdown(JSON.parse(fs.readFileSync(opt['from-json'], 'utf8'))) + '\n');
    return;
  }
  for (const id of SERVER_IDS) {
    const script = SERVERS[id].build('x').args[0];
    if (!fs.existsSync(script)) throw new Error(`${script} is missing${script.includes('dist') ? ': npm run build' : ''}`);
  }
  if (!P.which('wrk')) throw new Error('wrk is not installed (apt-get install -y wrk)');
  const loadavgStart = os.loadavg().map((x) => rN(x, 2));
  log(`TCP_NODELAY bench: servers ${SERVER_IDS.join(',')}, variants ${VARIANT_IDS.join(',')}, -c ${CONNS.join(',')}, ${ROUNDS} rounds of ${DURATION} s; load avg ${loadavgStart.join(' ')}`);
  const configs = [];
  for (const v of VARIANT_IDS) for (const s of SERVER_IDS) configs.push([s, v]);
  const perConfigS = 2 + WARMUP + CONNS.length * (DURATION + 1.5);
  const rows = [];
  let roundsRun = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    if (round > 1 && DEADLINE - Date.now() < configs.length * perConfigS * 1000 + 30_000) {
      note(`rounds ${round}..${ROUNDS} skipped (deadline --max-minutes ${opt['max-minutes']})`);
      break;
    }
    const k = (round - 1) % configs.length;
    const order = [...configs.slice(k), ...configs.slice(0, k)];
    const conns = round % 2 ? CONNS : [...CONNS].reverse();
    for (const [s, v] of order) rows.push(...(await measure(s, v, round, conns)));
    roundsRun = round;
  }
  const left = sweep();
  if (left.length) note(`sweep: SIGKILLed leftover processes ${left.join(', ')}`);
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' });
  const doc = {
    bench: 'nodelay',
    startedAt: new Date(T_START).toISOString(),
    minutes: rN((Date.now() - T_START) / 60_000, 1),
    node: process.version,
    commit: (git.stdout || '').trim() || null,
    srcModified: (dirty.stdout || '').trim().split('\n').filter(Boolean),
    machine: { cpus: os.cpus().length, model: (os.cpus()[0] || {}).model, release: os.release(), loadavgStart, loadavgEnd: os.loadavg().map((x) => rN(x, 2)) },
    command: `node bench/nodelay.js${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`,
    options: opt,
    servers: SERVER_IDS,
    dist: DIST,
    serverCommands: Object.fromEntries(SERVER_IDS.map((id) => [id, `node ${path.relative(ROOT, SERVERS[id].build('APP').args[0])} ${SERVERS[id].build('APP').args.slice(1).join(' ')}`])),
    variants: VARIANT_IDS,
    variantSpecs: Object.fromEntries(VARIANT_IDS.map((v) => [v, VARIANTS[v].spec])),
    connections: CONNS,
    duration: DURATION,
    warmup: WARMUP,
    rounds: roundsRun,
    clockTickMs: TICK_MS,
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
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  sweep();
  process.exit(1);
});
