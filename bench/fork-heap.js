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

const { values } = parseArgs({
  options: {
    heaps: { type: 'string', default: '0,100,300' },
    cycles: { type: 'string', default: '1000,300,100' },
    'no-python': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '120' },
  },
});

const { NODE_PROBE: PROBE, PY_PROBE } = require('./lib/fork-probes');

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
