#!/usr/bin/env node
// What a forked child costs before it does anything (issue 17): a parent forks, the child leaves at
// once with _exit(0), the parent reaps it with waitpid; per child, the CPU time and page faults the
// kernel charges to the reaped children (cutime, cstime, cminflt) and the parent's own CPU per fork.
// Three kinds of child, each in a fresh process, interleaved over rounds, medians:
//   posix   forkserve's posix.fork(): the native fork and the child's start in JS (initChild: process.pid,
//           watchers, stdio, fresh randomness: Math.random pool, entropy caches drained);
//   native  the addon's fork() and _exit() alone: what forkserve's native layer and the kernel cost;
//   python  os.fork() and os._exit(0) in python3: the baseline of the tutorial's own language.
// This process never forks.
//
//   node bench/fork-exit.js [--rounds 3] [--cycles 300] [--json]
'use strict';
const { execFile } = require('node:child_process');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    cycles: { type: 'string', default: '300' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const CYCLES = Number(values.cycles);
const ROOT = path.resolve(__dirname, '..');

// Reads this process's /proc/self/stat: fields after the command name (state is index 0).
const NODE_PROBE = `
const fs = require('node:fs');
const posix = require(${JSON.stringify(path.join(ROOT, 'dist', 'posix.js'))});
const native = require(${JSON.stringify(path.join(ROOT, 'build', 'Release', 'forkserve.node'))});
const [mode, cycles] = [process.argv[1], Number(process.argv[2])];
const stat = () => { const s = fs.readFileSync('/proc/self/stat', 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number);
  return { utime: f[11], stime: f[12], cutime: f[13], cstime: f[14], cminflt: f[8] }; };
posix.prepareFork();
const one = mode === 'posix'
  ? () => { const p = posix.fork(); if (p === 0) posix._exit(0); posix.waitpid(p, 0); }
  : () => { const p = native.fork(); if (p === 0) native._exit(0); posix.waitpid(p, 0); };
for (let i = 0; i < 20; i++) one();
const a = stat(); const t0 = process.hrtime.bigint();
for (let i = 0; i < cycles; i++) one();
const b = stat(); const wall = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(JSON.stringify({ wallMs: wall / cycles, childUserMs: (b.cutime - a.cutime) * 10 / cycles, childSysMs: (b.cstime - a.cstime) * 10 / cycles,
  childMinflt: (b.cminflt - a.cminflt) / cycles, parentUserMs: (b.utime - a.utime) * 10 / cycles, parentSysMs: (b.stime - a.stime) * 10 / cycles }));
`;

const PY_PROBE = `
import json, os, resource, sys, time
cycles = int(sys.argv[1])
def one():
    p = os.fork()
    if p == 0:
        os._exit(0)
    os.waitpid(p, 0)
for _ in range(20):
    one()
a, ra, t0 = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
for _ in range(cycles):
    one()
b, rb, wall = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN), (time.monotonic() - t0) * 1000
print(json.dumps({"wallMs": wall / cycles, "childUserMs": (b.children_user - a.children_user) * 1000 / cycles,
  "childSysMs": (b.children_system - a.children_system) * 1000 / cycles, "childMinflt": (rb.ru_minflt - ra.ru_minflt) / cycles,
  "parentUserMs": (b.user - a.user) * 1000 / cycles, "parentSysMs": (b.system - a.system) * 1000 / cycles}))
`;

function probe(kind) {
  const [cmd, args] = kind === 'python' ? ['python3', ['-c', PY_PROBE, String(CYCLES)]] : [process.execPath, ['-e', NODE_PROBE, kind, String(CYCLES)]];
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 300_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${kind} probe failed: ${err.killed ? 'timed out' : err.message} ${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (process.platform !== 'linux') throw new Error('Linux only (reads /proc)');
  const kinds = ['posix', 'native', 'python'];
  const runs = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of kinds) runs[k].push(await probe(k));
    process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`);
  }
  const fields = ['wallMs', 'childUserMs', 'childSysMs', 'childMinflt', 'parentUserMs', 'parentSysMs'];
  const result = Object.fromEntries(kinds.map((k) => [k, Object.fromEntries(fields.map((f) => [f, +median(runs[k].map((x) => x[f])).toFixed(2)]))]));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ node: process.version, rounds: ROUNDS, cycles: CYCLES, result })}\n`);
    return;
  }
  console.log(`fork + _exit + waitpid, ${CYCLES} children per probe, medians of ${ROUNDS} rounds, Node ${process.version}\n`);
  console.log('| child | wall ms per fork | child user + sys ms | child minflt | parent user + sys ms |');
  console.log('|---|---|---|---|---|');
  for (const k of kinds) {
    const x = result[k];
    console.log(`| ${k} | ${x.wallMs} | ${x.childUserMs} + ${x.childSysMs} | ${x.childMinflt} | ${x.parentUserMs} + ${x.parentSysMs} |`);
  }
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
