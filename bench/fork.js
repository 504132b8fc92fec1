#!/usr/bin/env node
// Fork benchmark: parent-side fork() latency (barrier + MADV_DOFORK + fork) at a fresh heap and at
// a 100 MB heap, against Python's os.fork() of a process with the same RSS in the same run (the
// machine's own fork cost), then many quick children to count hung/crashed ones.
//
//   node bench/fork.js [--cycles 2000] [--quick 20000]
//
// Writes bench/results/fork-<date>.json and prints a Markdown table.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '2000' },
    'heap-cycles': { type: 'string', default: '500' },
    quick: { type: 'string', default: '20000' },
    'quick-heap-mb': { type: 'string', default: '0' },
  },
});

// One measurement run in a fresh node process (the benchmark's own process never forks).
const PROBE = `
const posix = require(${JSON.stringify(path.join(ROOT, 'dist', 'posix.js'))});
const MB = 1024 * 1024;
const heapMb = Number(process.argv[1]), cycles = Number(process.argv[2]);
const live = [];
while (process.memoryUsage().heapUsed < heapMb * MB) live.push(new Array(512 * 1024).fill(0).map((_, i) => i & 0xffff));
const total = [], barrier = [], madvise = [], forkOnly = [], cycle = [];
for (let i = 0; i < cycles + 20; i++) {
  const t0 = process.hrtime.bigint();
  const pid = posix.fork();
  if (pid === 0) posix._exit(0);
  const t1 = process.hrtime.bigint();
  posix.waitpid(pid, 0);
  const t2 = process.hrtime.bigint();
  if (i < 20) continue; // warm-up, including the one-time self-check
  const f = posix.forkInfo();
  total.push(Number(t1 - t0) / 1000); barrier.push(f.lastBarrierUs); madvise.push(f.lastMadviseUs);
  forkOnly.push(f.lastForkUs); cycle.push(Number(t2 - t0) / 1000);
}
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1); };
const stat = (a) => ({ p50: q(a, 0.5), p99: q(a, 0.99) });
process.stdout.write(JSON.stringify({ heapMb: Math.round(process.memoryUsage().heapUsed / MB), rssMb: Math.round(process.memoryUsage().rss / MB),
  forkUs: stat(total), barrierUs: stat(barrier), madviseUs: stat(madvise), kernelForkUs: stat(forkOnly), cycleUs: stat(cycle),
  cyclesPerSecond: Math.round(1e6 / (cycle.reduce((a, b) => a + b, 0) / cycle.length)) }));
`;

const PY_PROBE = `
import os, sys, time
rss_mb, cycles = int(sys.argv[1]), int(sys.argv[2])
ballast = bytearray(max(0, rss_mb - 10) * 1024 * 1024)
for i in range(0, len(ballast), 4096): ballast[i] = 1
ts = []
for i in range(cycles + 20):
    t = time.perf_counter(); pid = os.fork()
    if pid == 0: os._exit(0)
    ts.append((time.perf_counter() - t) * 1e6); os.waitpid(pid, 0)
ts = sorted(ts[20:])
print('{"p50": %.1f, "p99": %.1f}' % (ts[len(ts) // 2], ts[min(len(ts) - 1, int(len(ts) * 0.99))]))
`;

function nodeProbe(heapMb, cycles) {
  return JSON.parse(execFileSync(process.execPath, ['-e', PROBE, String(heapMb), String(cycles)], { encoding: 'utf8', maxBuffer: 1 << 20 }));
}

function pythonProbe(rssMb, cycles) {
  return JSON.parse(execFileSync('python3', ['-c', PY_PROBE, String(rssMb), String(cycles)], { encoding: 'utf8' }));
}

function quickChildren(n, heapMb) {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', path.join(ROOT, 'test', 'fixtures', 'fork-stress.js'), '--children', String(n), '--concurrency', '4',
      '--heap-mb', String(heapMb), '--child-mb', '1', '--gcs', '1'],
    { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 3_600_000 },
  );
  const line = r.stdout.trim().split('\n').pop();
  if (r.status !== 0 || !line) throw new Error(`stress run failed: ${r.status} ${r.stderr}`);
  return JSON.parse(line);
}

const cycles = Number(values.cycles);
const heapCycles = Number(values['heap-cycles']);
console.error(`fresh parent: ${cycles} fork+reap cycles ...`);
const fresh = nodeProbe(0, cycles);
const freshPy = pythonProbe(fresh.rssMb, cycles);
console.error(`100 MB parent: ${heapCycles} cycles ...`);
const big = nodeProbe(100, heapCycles);
const bigPy = pythonProbe(big.rssMb, heapCycles);
console.error(`${values.quick} quick children ...`);
const quick = quickChildren(Number(values.quick), Number(values['quick-heap-mb']));

const result = {
  date: new Date().toISOString(),
  node: process.version,
  machine: { cpus: require('node:os').cpus().length, model: require('node:os').cpus()[0]?.model },
  fresh: { ...fresh, pythonForkUs: freshPy, ratioToPython: +(fresh.forkUs.p50 / freshPy.p50).toFixed(2) },
  heap100: { ...big, pythonForkUs: bigPy, ratioToPython: +(big.forkUs.p50 / bigPy.p50).toFixed(2) },
  quick: {
    children: quick.children, hung: quick.hung, crashed: quick.crashed, forksPerSecond: quick.forksPerSecond,
    elapsedMs: quick.elapsedMs, fdsBefore: quick.fdsBefore, fdsAfter: quick.fdsAfter,
    threadsBefore: quick.threadsBefore, threadsAfter: quick.threadsAfter,
  },
  goals: { freshP50Ms: 1, heap100P50Ms: 2 },
};
const out = path.join(__dirname, 'results', `fork-${result.date.slice(0, 10)}.json`);
fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

const row = (name, r) =>
  `| ${name} | ${r.rssMb} | ${r.forkUs.p50} / ${r.forkUs.p99} | ${r.barrierUs.p50} | ${r.madviseUs.p50} | ${r.kernelForkUs.p50} | ${r.pythonForkUs.p50} / ${r.pythonForkUs.p99} | ${r.ratioToPython}× | ${r.cyclesPerSecond} |`;
console.log(`| parent | RSS MB | fork() µs p50 / p99 | barrier µs p50 | madvise µs p50 | kernel fork µs p50 | Python os.fork µs p50 / p99 (same RSS) | ratio | fork+reap cycles/s |`);
console.log('|---|---|---|---|---|---|---|---|---|');
console.log(row('fresh', result.fresh));
console.log(row('100 MB heap', result.heap100));
console.log();
console.log(`Quick children: ${quick.children} forked, ${quick.hung} hung, ${quick.crashed} crashed, ${quick.forksPerSecond} forks/s ` +
  `(4 alive at once); parent fds ${quick.fdsBefore} -> ${quick.fdsAfter}, threads ${quick.threadsBefore} -> ${quick.threadsAfter}.`);
console.log(`\nGoals: fork p50 <= 1 ms fresh (${(result.fresh.forkUs.p50 / 1000).toFixed(2)} ms), <= 2 ms at 100 MB (${(result.heap100.forkUs.p50 / 1000).toFixed(2)} ms).`);
console.log(`Written to ${path.relative(process.cwd(), out)}`);
