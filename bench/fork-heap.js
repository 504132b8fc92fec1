#!/usr/bin/env node
// Fork latency against the parent's heap size: parent-side fork() p50/p99 (forkserve's whole
// fork: thread barrier + MADV_DOFORK pass + fork() + release) for a fresh parent and parents
// holding a 100 MB and a 300 MB live V8 heap, with Python's os.fork() of a process of the same RSS
// as the machine's baseline (page-table copying grows with RSS whatever the language).
// Same approach as bench/fork.js: every measurement runs in a fresh node process (this process
// never forks); each probe forks, the child _exit(0)s at once, the parent reaps it with waitpid.
//
//   node bench/fork-heap.js [--heaps 0,100,300] [--cycles 1000,300,100] [--no-python] [--json]
//
// Prints a Markdown table (or, with --json, one JSON line for bench/suite.js) and writes
// bench/results/fork-heap-<date>.json unless --json.
'use strict';
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    heaps: { type: 'string', default: '0,100,300' },
    cycles: { type: 'string', default: '1000,300,100' },
    'no-python': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '120' },
  },
});

const PROBE = `
const posix = require(${JSON.stringify(path.join(ROOT, 'dist', 'posix.js'))});
const MB = 1024 * 1024;
const heapMb = Number(process.argv[1]), cycles = Number(process.argv[2]);
const live = [];
while (process.memoryUsage().heapUsed < heapMb * MB) live.push(new Array(512 * 1024).fill(0).map((_, i) => i & 0xffff));
const total = [], barrier = [], madvise = [], kernel = [];
for (let i = 0; i < cycles + 20; i++) {
  const t0 = process.hrtime.bigint();
  const pid = posix.fork();
  if (pid === 0) posix._exit(0);
  const t1 = process.hrtime.bigint();
  posix.waitpid(pid, 0);
  if (i < 20) continue; // warm-up, including the one-time self-check
  const f = posix.forkInfo();
  total.push(Number(t1 - t0) / 1000); barrier.push(f.lastBarrierUs); madvise.push(f.lastMadviseUs); kernel.push(f.lastForkUs);
}
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1); };
const stat = (a) => ({ p50: q(a, 0.5), p99: q(a, 0.99) });
process.stdout.write(JSON.stringify({ heapMb: Math.round(process.memoryUsage().heapUsed / MB), rssMb: Math.round(process.memoryUsage().rss / MB),
  cycles, forkUs: stat(total), barrierUs: stat(barrier), madviseUs: stat(madvise), kernelForkUs: stat(kernel), live: live.length }));
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

function exec(cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout) => {
      if (err) reject(new Error(`${cmd} probe failed: ${err.killed ? `timed out after ${timeoutMs} ms` : err.message}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

async function main() {
  const heaps = values.heaps.split(',').map(Number);
  const cyclesList = values.cycles.split(',').map(Number);
  const timeoutMs = Number(values['timeout-s']) * 1000;
  const rows = [];
  for (let i = 0; i < heaps.length; i++) {
    const heapMb = heaps[i];
    const cycles = cyclesList[Math.min(i, cyclesList.length - 1)];
    if (!values.json) console.error(`parent heap ${heapMb} MB: ${cycles} fork+reap cycles ...`);
    const node = await exec(process.execPath, ['--max-old-space-size=4096', '-e', PROBE, String(heapMb), String(cycles)], timeoutMs);
    let python = null;
    if (!values['no-python']) {
      try {
        python = await exec('python3', ['-c', PY_PROBE, String(node.rssMb), String(cycles)], timeoutMs);
      } catch (err) {
        python = { error: err.message };
      }
    }
    rows.push({ heapTargetMb: heapMb, ...node, pythonForkUs: python, ratioToPython: python && python.p50 ? +(node.forkUs.p50 / python.p50).toFixed(2) : null });
  }
  const result = { date: new Date().toISOString(), node: process.version, rows, goals: { freshP50Ms: 1, heap100P50Ms: 2 } };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  console.log('| parent heap | RSS MB | fork() µs p50 / p99 | barrier µs p50 | madvise µs p50 | kernel fork µs p50 | Python os.fork µs p50 / p99 (same RSS) | ratio |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const py = r.pythonForkUs && r.pythonForkUs.p50 ? `${r.pythonForkUs.p50} / ${r.pythonForkUs.p99}` : 'n/a';
    console.log(`| ${r.heapTargetMb ? `${r.heapMb} MB` : 'fresh'} | ${r.rssMb} | ${r.forkUs.p50} / ${r.forkUs.p99} | ${r.barrierUs.p50} | ${r.madviseUs.p50} | ${r.kernelForkUs.p50} | ${py} | ${r.ratioToPython ?? 'n/a'}× |`);
  }
  const out = path.join(__dirname, 'results', `fork-heap-${result.date.slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nGoals: fork p50 <= 1 ms fresh, <= 2 ms at a 100 MB heap. Written to ${path.relative(process.cwd(), out)}`);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
