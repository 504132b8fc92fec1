// The fork-latency probes shared by bench/fork.js, bench/fork-heap.js and bench/fork-nodes.js. Each runs in a fresh
// process (the benchmark's own process never forks): argv = heap (or RSS) MB, cycles.
//   NODE_PROBE (node -e): grows a live V8 heap to the target, then times forkserve's fork()
//     (barrier + MADV_DOFORK + fork, and each phase from forkInfo()) over cycles fork+reap
//     rounds after 20 warm-up rounds; prints one JSON object.
//   PY_PROBE (python3 -c): the machine's baseline, os.fork() of a process of the given RSS.
'use strict';
const path = require('node:path');

const POSIX = path.join(__dirname, '..', '..', 'dist', 'posix.js');

/** The Node probe's source, loading forkserve from `posix` (another checkout's dist/posix.js, say). */
const nodeProbeFor = (posix) => `
const posix = require(${JSON.stringify(posix)});
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
  cycles, forkUs: stat(total), barrierUs: stat(barrier), madviseUs: stat(madvise), kernelForkUs: stat(forkOnly), cycleUs: stat(cycle),
  cyclesPerSecond: Math.round(1e6 / (cycle.reduce((a, b) => a + b, 0) / cycle.length)), live: live.length }));
`;
const NODE_PROBE = nodeProbeFor(POSIX);

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

module.exports = { NODE_PROBE, PY_PROBE, nodeProbeFor };
