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

const { NODE_PROBE: PROBE, PY_PROBE } = require('./lib/fork-probes');

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
