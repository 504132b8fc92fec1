#!/usr/bin/env node
// Fork per connection against the machine's floor (issue 17): concurrent-final's hello app, the
// Python tutorial server 3g and a minimal C fork-per-connection server (bench/c/fork_hello.c,
// compiled here with `cc -O2` into a temporary directory), in ONE run, interleaved rounds, medians.
//
//   node bench/fork-floor.js [--rounds 3] [--requests 2000] [--concurrency 50] [--warmup 200]
//                            [--variant name:ENV=VALUE[,ENV=VALUE]]... [--only cf-hello,py-tutorial,c-floor]
//                            [--fork-heaps 0,100] [--fork-cycles 500,200] [--no-fork-heap]
//                            [--label text] [--out bench/results] [--no-write]
//
// Per round and server (started fresh every round, on 127.0.0.1 port 0):
//  1. start, read the port from the serving line; warm up with `ab -n <warmup> -c 10`; wait until
//     every child is reaped;
//  2. read the parent's VmPTE, VmRSS, RssAnon, threads (/proc/<pid>/status) and its mapping count
//     (/proc/<pid>/maps lines), and its /proc/<pid>/stat counters (utime, stime, minflt and the
//     reaped children's cutime, cstime, cminflt);
//  3. `ab -q -r -n <requests> -c <concurrency>` (a new connection per request: one child each);
//  4. wait until every child is reaped, read /proc/<pid>/stat again: per child CPU (cutime and
//     cstime deltas / requests: user and kernel time of a child, its exit included) and page
//     faults (cminflt delta / requests); the parent's own CPU and faults per request the same way;
//  5. stop it (SIGTERM, then SIGKILL by PID).
// --variant adds concurrent-final with extra environment variables (an A/B of a change that an
// environment switch turns off, in the same run): e.g. --variant no-trim:FORKSERVE_FORK_TRIM=0;
// NODE_ARGS=... (space-separated) is not an environment variable but node's own arguments, and
// SCRIPT=<path> runs another build of concurrent-final (an A/B of two builds: a copy of dist/ next
// to a build/Release/forkserve.node, e.g. SCRIPT=/tmp/old/dist/concurrent-final.js).
// After the rounds: bench/fork-heap.js --json (parent-side fork() latency of a fresh and a 100 MB
// parent, and Python's os.fork() at the same RSS).
// Output: a Markdown table on stdout, bench/results/fork-floor-<date>.{json,md} (unless --no-write).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const P = require('./lib/proc');
const L = require('./lib/load');
const { median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const NODE = process.execPath;
const CLK_TCK = 100; // USER_HZ

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '200' },
    variant: { type: 'string', multiple: true, default: [] },
    only: { type: 'string' },
    'fork-heaps': { type: 'string', default: '0,100' },
    'fork-cycles': { type: 'string', default: '500,200' },
    'no-fork-heap': { type: 'boolean', default: false },
    label: { type: 'string', default: '' },
    out: { type: 'string', default: path.join(__dirname, 'results') },
    'no-write': { type: 'boolean', default: false },
  },
});

const ROUNDS = Number(opt.rounds);
const REQUESTS = Number(opt.requests);
const CONCURRENCY = Number(opt.concurrency);
const WARMUP = Number(opt.warmup);
const log = (s) => process.stderr.write(`${s}\n`);

/** Compiles bench/c/fork_hello.c into a temporary directory; returns the binary's path. */
async function buildCFloor(dir) {
  const bin = path.join(dir, 'fork_hello');
  const r = await P.run('cc', ['-O2', '-o', bin, path.join(__dirname, 'c', 'fork_hello.c')], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`cc failed: ${r.stderr.trim()}`);
  return bin;
}

function readStat(pid) {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
  return { minflt: f[7], cminflt: f[8], utime: f[11], stime: f[12], cutime: f[13], cstime: f[14] };
}

function readStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text) || [])[1] ?? NaN);
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter(Boolean).length;
  // Huge pages in use (Node's code under --large-pages auto; 0 when the kernel found none to give).
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const anonHugeKb = Number((/^AnonHugePages:\s+(\d+)/m.exec(rollup) || [])[1] ?? NaN);
  return { vmPteKb: kb('VmPTE'), vmRssKb: kb('VmRSS'), rssAnonKb: kb('RssAnon'), vmSizeKb: kb('VmSize'), threads: kb('Threads'), maps, anonHugeKb };
}

async function settle(pid, ms = 10_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (P.childrenFromProc(pid).length === 0) return true;
    await P.sleep(50);
  }
  return false;
}

const rnd = (x, d = 2) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

async function measure(spec) {
  const server = await P.startServer({ name: spec.id, cmd: spec.cmd, args: spec.args, cwd: ROOT, env: { ...process.env, ...spec.env } }, { timeoutMs: 20_000 });
  const url = `http://127.0.0.1:${server.port}/`;
  const rec = { pid: server.pid };
  try {
    await L.ab(url, { requests: WARMUP, concurrency: Math.min(10, CONCURRENCY), timeoutMs: 60_000 });
    rec.settledBefore = await settle(server.pid);
    await P.sleep(200);
    rec.status = readStatus(server.pid);
    const s0 = readStat(server.pid);
    const run = await L.ab(url, { requests: REQUESTS, concurrency: CONCURRENCY, timeoutMs: 300_000 });
    rec.settledAfter = await settle(server.pid);
    const s1 = readStat(server.pid);
    rec.statusAfter = readStatus(server.pid);
    const n = run.requests || 0;
    const ms = (ticks) => (ticks * 1000) / CLK_TCK;
    rec.ab = { ok: run.ok, rps: run.rps, requests: n, failed: run.failed, p50: run.p50, p99: run.p99, error: run.error };
    if (n) {
      rec.perChild = {
        userMs: ms(s1.cutime - s0.cutime) / n,
        sysMs: ms(s1.cstime - s0.cstime) / n,
        minflt: (s1.cminflt - s0.cminflt) / n,
      };
      rec.parentPerRequest = { userMs: ms(s1.utime - s0.utime) / n, sysMs: ms(s1.stime - s0.stime) / n, minflt: (s1.minflt - s0.minflt) / n };
    }
  } finally {
    rec.stop = await P.stopServer(server, { graceMs: 3000 });
  }
  return rec;
}

function summarise(recs) {
  const ok = recs.filter((r) => r.ab && r.ab.ok);
  const m = (f) => median(ok.map(f));
  const rps = ok.map((r) => r.ab.rps);
  return {
    rounds: ok.length,
    rps: { median: rnd(median(rps), 1), min: rnd(Math.min(...rps), 1), max: rnd(Math.max(...rps), 1) },
    p50: rnd(m((r) => r.ab.p50)),
    p99: rnd(m((r) => r.ab.p99)),
    failed: ok.reduce((a, r) => a + (r.ab.failed || 0), 0),
    vmPteKb: m((r) => r.status.vmPteKb),
    maps: m((r) => r.status.maps),
    rssMb: rnd(m((r) => r.status.vmRssKb) / 1024, 1),
    rssAnonMb: rnd(m((r) => r.status.rssAnonKb) / 1024, 1),
    anonHugeMb: rnd(m((r) => r.status.anonHugeKb) / 1024, 0),
    threads: m((r) => r.status.threads),
    child: { userMs: rnd(m((r) => r.perChild.userMs)), sysMs: rnd(m((r) => r.perChild.sysMs)), minflt: rnd(m((r) => r.perChild.minflt), 0) },
    parent: { userMs: rnd(m((r) => r.parentPerRequest.userMs)), sysMs: rnd(m((r) => r.parentPerRequest.sysMs)), minflt: rnd(m((r) => r.parentPerRequest.minflt), 1) },
    errors: recs.filter((r) => r.error || (r.ab && !r.ab.ok)).map((r) => r.error || r.ab.error),
  };
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fork-floor-'));
  const cf = path.join(ROOT, 'dist', 'concurrent-final.js');
  const LOOP = ['--port', '0', '--host', '127.0.0.1'];
  let servers = [
    { id: 'cf-hello', name: 'concurrent-final, hello app', cmd: NODE, args: [cf, ...LOOP], env: {} },
    ...opt.variant.map((v) => {
      const [name, envs = ''] = v.split(/:(.*)/s);
      const env = Object.fromEntries(envs.split(',').filter(Boolean).map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
      const nodeArgs = env.NODE_ARGS ? env.NODE_ARGS.split(' ').filter(Boolean) : [];
      const script = env.SCRIPT ? path.resolve(env.SCRIPT) : cf;
      delete env.NODE_ARGS;
      delete env.SCRIPT;
      return { id: `cf-${name}`, name: `concurrent-final, hello app, ${envs}`, cmd: NODE, args: [...nodeArgs, script, ...LOOP], env };
    }),
    { id: 'py-tutorial', name: 'Python tutorial 3g (canned)', cmd: 'python3', args: [path.join(__dirname, 'python', 'tutorial_fork_server.py'), '0'], env: {} },
    { id: 'c-floor', name: 'C fork per connection (bench/c/fork_hello.c, cc -O2)', cmd: null, args: ['0'], env: {} },
  ];
  if (opt.only) servers = servers.filter((s) => opt.only.split(',').includes(s.id));
  try {
    const c = servers.find((s) => s.id === 'c-floor');
    if (c) c.cmd = await buildCFloor(tmp);
    const recs = Object.fromEntries(servers.map((s) => [s.id, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const spec of servers) {
        let rec;
        try {
          rec = await measure(spec);
        } catch (err) {
          rec = { error: err.message };
        }
        recs[spec.id].push(rec);
        if (rec.error) log(`round ${round + 1} ${spec.id}: ERROR ${rec.error}`);
        else {
          const pc = rec.perChild || {};
          log(`round ${round + 1} ${spec.id}: ${rec.ab.rps} req/s (failed ${rec.ab.failed}), VmPTE ${rec.status.vmPteKb} kB, maps ${rec.status.maps}, ` +
            `RSS ${(rec.status.vmRssKb / 1024).toFixed(1)} MB, huge ${(rec.status.anonHugeKb / 1024).toFixed(0)} MB, child user ${rnd(pc.userMs)} sys ${rnd(pc.sysMs)} ms, minflt ${rnd(pc.minflt, 0)}, ` +
            `parent ${rnd(rec.parentPerRequest.userMs)}+${rnd(rec.parentPerRequest.sysMs)} ms/req`);
        }
      }
    }
    const summary = Object.fromEntries(servers.map((s) => [s.id, { name: s.name, env: s.env, ...summarise(recs[s.id]) }]));
    const cfId = 'cf-hello';
    const ratio = (a, b) => (summary[a] && summary[b] && summary[a].rps.median && summary[b].rps.median ? rnd(summary[a].rps.median / summary[b].rps.median) : null);
    const ratios = {};
    for (const s of servers) {
      if (!s.id.startsWith('cf-')) continue;
      ratios[s.id] = { vsPython: ratio(s.id, 'py-tutorial'), vsC: ratio(s.id, 'c-floor') };
    }
    let forkHeap = null;
    if (!opt['no-fork-heap']) {
      log(`fork latency (bench/fork-heap.js --heaps ${opt['fork-heaps']} --cycles ${opt['fork-cycles']}) ...`);
      const r = await P.run(NODE, [path.join(__dirname, 'fork-heap.js'), '--json', '--heaps', opt['fork-heaps'], '--cycles', opt['fork-cycles']], { timeoutMs: 600_000 });
      try {
        forkHeap = JSON.parse(r.stdout.trim().split('\n').pop());
      } catch {
        forkHeap = { error: `${r.code} ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` };
      }
    }
    const result = {
      date: new Date().toISOString(),
      label: opt.label,
      command: `node ${path.relative(ROOT, __filename)} ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, kernel: os.release(), node: process.version, loadavg: os.loadavg() },
      settings: { rounds: ROUNDS, requests: REQUESTS, concurrency: CONCURRENCY, warmup: WARMUP },
      summary,
      ratios,
      forkHeap,
      rounds: recs,
    };
    const md = markdown(result, servers);
    process.stdout.write(md);
    if (!opt['no-write']) {
      fs.mkdirSync(opt.out, { recursive: true });
      const base = path.join(opt.out, `fork-floor-${result.date.slice(0, 10)}${opt.label ? `-${opt.label}` : ''}`);
      fs.writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
      fs.writeFileSync(`${base}.md`, md);
      log(`written: ${path.relative(ROOT, base)}.{json,md}`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function markdown(result, servers) {
  const out = [];
  const w = (s = '') => out.push(s);
  w(`# Fork per connection against the floor, ${result.date.slice(0, 16).replace('T', ' ')} UTC${result.label ? ` (${result.label})` : ''}`);
  w();
  w(`\`${result.command}\`: ${result.settings.rounds} interleaved rounds, \`ab -n ${result.settings.requests} -c ${result.settings.concurrency}\`, medians (min–max). ` +
    `${result.machine.cpus} × ${result.machine.model}, Linux ${result.machine.kernel}, Node ${result.machine.node}; load average at the end ${result.machine.loadavg.map((x) => x.toFixed(2)).join(' ')}.`);
  w();
  w('| server | req/s | vs Python 3g | vs C floor | p50 / p99 ms | failed | parent VmPTE kB | maps | parent RSS / anon / huge MB | threads | per child user + sys ms | per child minflt | parent per request user + sys ms, minflt |');
  w('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const py = result.summary['py-tutorial'];
  const c = result.summary['c-floor'];
  for (const s of servers) {
    const x = result.summary[s.id];
    if (!x.rounds) {
      w(`| ${x.name} | error: ${x.errors[0] ?? 'no round'} |`);
      continue;
    }
    const vs = (b) => (b && b.rps.median ? `${(x.rps.median / b.rps.median).toFixed(2)}×` : 'n/a');
    w(`| ${s.id}: ${x.name} | ${x.rps.median} (${x.rps.min}–${x.rps.max}) | ${vs(py)} | ${vs(c)} | ${x.p50} / ${x.p99} | ${x.failed} | ${x.vmPteKb} | ${x.maps} | ${x.rssMb} / ${x.rssAnonMb} / ${x.anonHugeMb ?? 'n/a'} | ${x.threads} | ` +
      `${x.child.userMs} + ${x.child.sysMs} | ${x.child.minflt} | ${x.parent.userMs} + ${x.parent.sysMs}, ${x.parent.minflt} |`);
  }
  w();
  w('Per child: the parent\'s cutime/cstime/cminflt deltas over the ab run (all children reaped) divided by the requests (one connection, one child each); ' +
    'ticks are 10 ms, so figures below ~0.05 ms are noise. VmPTE, maps, RSS (huge: AnonHugePages, Node\'s code when it runs on large pages) and threads: the parent after warm-up, before the run.');
  const fh = result.forkHeap;
  if (fh && fh.rows) {
    w();
    w('## fork() latency, parent side (bench/fork-heap.js), against Python os.fork() at the same RSS');
    w();
    w('| parent | RSS MB | fork() µs p50 / p99 | barrier µs | madvise µs | kernel fork µs | Python os.fork µs p50 / p99 | ratio |');
    w('|---|---|---|---|---|---|---|---|');
    for (const r of fh.rows) {
      const pyf = r.pythonForkUs && r.pythonForkUs.p50 ? `${r.pythonForkUs.p50} / ${r.pythonForkUs.p99}` : 'n/a';
      w(`| ${r.heapTargetMb ? `${r.heapMb} MB heap` : 'fresh'} | ${r.rssMb} | ${r.forkUs.p50} / ${r.forkUs.p99} | ${r.barrierUs.p50} | ${r.madviseUs.p50} | ${r.kernelForkUs.p50} | ${pyf} | ${r.ratioToPython ?? 'n/a'}× |`);
    }
  } else if (fh && fh.error) {
    w();
    w(`fork latency: error ${fh.error}`);
  }
  w();
  return `${out.join('\n')}\n`;
}

main().catch((err) => {
  console.error(err.stack || err.message);
  process.exit(1);
});
