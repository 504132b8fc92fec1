#!/usr/bin/env node
// bench/fork.js across Node versions, in one run: for each Node (the one running this script and
// the official builds of 22, 24 and 26 from scripts/fetch-node.js), the addon is built against that
// Node's headers in a scratch copy of this checkout (dist/, native/, the stress fixture), then
//   - parent-side fork() latency (barrier + MADV_DOFORK + fork), fresh and at a 100 MB heap, in
//     interleaved rounds (every Node once per round, then the next round), Python's os.fork() at the
//     same RSS once per round as the machine's own baseline; medians of the per-round p50/p99;
//   - many quick children per Node (test/fixtures/fork-stress.js: each allocates, runs a full GC, a
//     timer and async fs, then _exit(0)s; 4 alive at once): hung and crashed must be 0.
//
//   node bench/fork-nodes.js [--nodes current,22,24,26] [--rounds 3] [--cycles 600] [--heap-cycles 150]
//                            [--quick 20000] [--deadline-ms 30000]
//
// Needs `npm run build` (dist/) and, for the other Nodes, the npm registry once (cached after).
// Writes bench/results/fork-nodes-<date>.json and prints a Markdown table. Linux only.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { PY_PROBE, nodeProbeFor } = require('./lib/fork-probes');

const ROOT = path.resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: 'current,22,24,26' },
    rounds: { type: 'string', default: '3' },
    cycles: { type: 'string', default: '600' },
    'heap-cycles': { type: 'string', default: '150' },
    quick: { type: 'string', default: '20000' },
    'deadline-ms': { type: 'string', default: '30000' },
    scratch: { type: 'string', default: path.join(os.tmpdir(), 'forkserve-fork-nodes') },
  },
});
const ROUNDS = Number(values.rounds);
const log = (m) => process.stderr.write(`${m}\n`);

// ---- one scratch checkout per Node, the addon built against its headers

function prepare(version) {
  if (version === 'current') return { label: process.version, bin: process.execPath, root: ROOT };
  const dir = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'fetch-node.js'), version], { encoding: 'utf8' }).trim();
  const bin = path.join(dir, 'bin', 'node');
  const label = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  const root = path.join(values.scratch, label);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'test'), { recursive: true });
  for (const p of ['dist', 'native', 'binding.gyp', 'package.json', path.join('test', 'fixtures')]) {
    fs.cpSync(path.join(ROOT, p), path.join(root, p), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  log(`building the addon for ${label} ...`);
  const env = { ...process.env, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH}`, npm_config_nodedir: dir };
  const r = spawnSync('npx', ['node-gyp', 'rebuild'], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node-gyp rebuild for ${label} failed:\n${r.stderr.slice(-2000)}`);
  return { label, bin, root };
}

const probe = (node, heapMb, cycles) =>
  JSON.parse(execFileSync(node.bin, ['-e', nodeProbeFor(path.join(node.root, 'dist', 'posix.js')), String(heapMb), String(cycles)], { encoding: 'utf8', maxBuffer: 1 << 20 }));
const pyProbe = (rssMb, cycles) => JSON.parse(execFileSync('python3', ['-c', PY_PROBE, String(rssMb), String(cycles)], { encoding: 'utf8' }));

function quickChildren(node, n) {
  const r = spawnSync(
    node.bin,
    ['--expose-gc', path.join(node.root, 'test', 'fixtures', 'fork-stress.js'), '--children', String(n), '--concurrency', '4',
      '--heap-mb', '0', '--child-mb', '1', '--gcs', '1', '--deadline-ms', values['deadline-ms']],
    { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 4 * 3_600_000 },
  );
  const line = r.stdout.trim().split('\n').pop();
  if (r.status !== 0 || !line) return { error: `exit ${r.status ?? r.signal}: ${r.stderr.slice(-500)}` };
  const s = JSON.parse(line);
  return { children: s.children, hung: s.hung, crashed: s.crashed, forkErrors: s.forkErrors, forksPerSecond: s.forksPerSecond,
    elapsedMs: s.elapsedMs, fds: `${s.fdsBefore} -> ${s.fdsAfter}`, threads: `${s.threadsBefore} -> ${s.threadsAfter}` };
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---- run

const nodes = values.nodes.split(',').map(prepare);
const perRound = { cycles: Math.ceil(Number(values.cycles) / ROUNDS), heap: Math.ceil(Number(values['heap-cycles']) / ROUNDS) };
const samples = new Map(nodes.map((n) => [n.label, { fresh: [], heap100: [] }]));
const python = { fresh: [], heap100: [] };
for (let round = 1; round <= ROUNDS; round++) {
  for (const node of nodes) {
    log(`round ${round}/${ROUNDS}: ${node.label} fresh (${perRound.cycles} cycles), 100 MB (${perRound.heap} cycles) ...`);
    samples.get(node.label).fresh.push(probe(node, 0, perRound.cycles));
    samples.get(node.label).heap100.push(probe(node, 100, perRound.heap));
  }
  const rss = (k) => Math.round(median(nodes.map((n) => samples.get(n.label)[k].at(-1).rssMb)));
  python.fresh.push(pyProbe(rss('fresh'), perRound.cycles));
  python.heap100.push(pyProbe(rss('heap100'), perRound.heap));
}
const quick = new Map();
for (const node of nodes) {
  log(`${node.label}: ${values.quick} quick children ...`);
  quick.set(node.label, quickChildren(node, Number(values.quick)));
  log(`${node.label}: ${JSON.stringify(quick.get(node.label))}`);
}

const summary = (runs) => ({
  rssMb: median(runs.map((r) => r.rssMb)),
  forkUs: { p50: median(runs.map((r) => r.forkUs.p50)), p99: median(runs.map((r) => r.forkUs.p99)) },
  barrierUs: median(runs.map((r) => r.barrierUs.p50)),
  kernelForkUs: median(runs.map((r) => r.kernelForkUs.p50)),
});
const pySummary = (runs) => ({ p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)) });
const result = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg() },
  settings: values,
  python: { fresh: pySummary(python.fresh), heap100: pySummary(python.heap100) },
  nodes: nodes.map((n) => ({ node: n.label, fresh: summary(samples.get(n.label).fresh), heap100: summary(samples.get(n.label).heap100), quick: quick.get(n.label), rounds: samples.get(n.label) })),
};
fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
const out = path.join(__dirname, 'results', `fork-nodes-${result.date.slice(0, 10)}.json`);
fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

const base = result.nodes[0];
const ms = (us) => (us / 1000).toFixed(2);
console.log(`| Node | fork() fresh p50 / p99 ms | vs ${base.node} | fork() 100 MB p50 / p99 ms | vs ${base.node} | barrier µs p50 (fresh) | quick children: forked / hung / crashed | forks/s |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const n of result.nodes) {
  const q = n.quick.error ? `error: ${n.quick.error.split('\n')[0]}` : `${n.quick.children} / ${n.quick.hung} / ${n.quick.crashed}`;
  console.log(`| ${n.node} | ${ms(n.fresh.forkUs.p50)} / ${ms(n.fresh.forkUs.p99)} | ${(n.fresh.forkUs.p50 / base.fresh.forkUs.p50).toFixed(2)}× | ` +
    `${ms(n.heap100.forkUs.p50)} / ${ms(n.heap100.forkUs.p99)} | ${(n.heap100.forkUs.p50 / base.heap100.forkUs.p50).toFixed(2)}× | ` +
    `${n.fresh.barrierUs} | ${q} | ${n.quick.forksPerSecond ?? '-'} |`);
}
console.log(`| Python os.fork (same RSS) | ${ms(result.python.fresh.p50)} / ${ms(result.python.fresh.p99)} | | ${ms(result.python.heap100.p50)} / ${ms(result.python.heap100.p99)} | | | | |`);
console.log(`\n${ROUNDS} interleaved rounds, medians of per-round p50/p99. Written to ${path.relative(process.cwd(), out)}`);
