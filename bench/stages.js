#!/usr/bin/env node
// concurrent-final against Python fork-per-request servers, same machine, same run:
// `ab -n 5000 -c 50`, rounds interleaved (A B C A B C ...), median/min/max of req/s, latency
// p50/p99 from ab, failed requests, and zombies/fds of each server after its rounds.
//
//   node bench/stages.js [--rounds 3] [--requests 5000] [--concurrency 50]
//
// Writes bench/results/stages-<date>.json and prints a Markdown table.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '50' },
    only: { type: 'string' },
  },
});

const SERVERS = [
  { name: 'forkserve concurrent-final (canned)', cmd: process.execPath, args: [path.join(ROOT, 'dist', 'concurrent-final.js'), '--canned', '--quiet', '--port', '0', '--host', '127.0.0.1'] },
  { name: 'forkserve concurrent-final (HTTP hello app)', cmd: process.execPath, args: [path.join(ROOT, 'dist', 'concurrent-final.js'), '--port', '0', '--host', '127.0.0.1'] },
  { name: 'Python tutorial 3g (canned)', cmd: 'python3', args: [path.join(__dirname, 'python', 'tutorial_fork_server.py'), '0'] },
  { name: 'Python ForkingMixIn + http.server', cmd: 'python3', args: [path.join(__dirname, 'python', 'forking_mixin_server.py'), '0'] },
].filter((s) => !values.only || s.name.includes(values.only));

function start(server) {
  return new Promise((resolve, reject) => {
    const proc = spawn(server.cmd, server.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${server.name} did not start`)), 10_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /Serving HTTP on port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout.resume();
        resolve({ proc, port: Number(m[1]) });
      }
    });
    proc.on('exit', (code) => reject(new Error(`${server.name} exited with ${code}`)));
  });
}

function ab(port) {
  const r = spawnSync('ab', ['-q', '-n', values.requests, '-c', values.concurrency, `http://127.0.0.1:${port}/`], { encoding: 'utf8', timeout: 600_000 });
  const num = (re) => Number((re.exec(r.stdout) || [])[1]);
  return {
    rps: num(/Requests per second:\s+([\d.]+)/),
    failed: num(/Failed requests:\s+(\d+)/),
    p50: num(/\s50%\s+(\d+)/),
    p99: num(/\s99%\s+(\d+)/),
    ok: r.status === 0,
  };
}

function inspect(pid) {
  const kids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid;
    } catch {
      return false;
    }
  });
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    children: kids.length,
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    rssMb: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

(async () => {
  const rounds = Number(values.rounds);
  const results = Object.fromEntries(SERVERS.map((s) => [s.name, { runs: [], after: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const server of SERVERS) {
      const { proc, port } = await start(server);
      try {
        spawnSync('ab', ['-q', '-n', '200', '-c', '10', `http://127.0.0.1:${port}/`]); // warm-up
        await sleep(300);
        const before = inspect(proc.pid);
        const run = ab(port);
        await sleep(1000);
        const after = inspect(proc.pid);
        results[server.name].runs.push(run);
        results[server.name].after.push({ ...after, fdsBefore: before.fds });
        console.error(`round ${round + 1} ${server.name}: ${run.rps} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms, failed ${run.failed}; after: ${JSON.stringify(after)}`);
      } finally {
        proc.kill('SIGKILL');
        await sleep(200);
      }
    }
  }
  const summary = SERVERS.map((s) => {
    const r = results[s.name];
    const rps = r.runs.map((x) => x.rps);
    return {
      name: s.name,
      rps: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps) },
      p50: median(r.runs.map((x) => x.p50)),
      p99: median(r.runs.map((x) => x.p99)),
      failed: r.runs.reduce((a, x) => a + x.failed, 0),
      childrenAfter: Math.max(...r.after.map((x) => x.children)),
      fdsBefore: r.after[0].fdsBefore,
      fdsAfter: r.after[0].fds,
      parentRssMb: median(r.after.map((x) => x.rssMb)),
    };
  });
  const base = summary.find((s) => s.name.startsWith('Python tutorial'));
  for (const s of summary) s.ratioToPythonTutorial = base ? +(s.rps.median / base.rps.median).toFixed(2) : null;
  const result = { date: new Date().toISOString(), ab: { n: Number(values.requests), c: Number(values.concurrency) }, rounds, summary, results };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const out = path.join(__dirname, 'results', `stages-${result.date.slice(0, 10)}.json`);
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`ab -n ${values.requests} -c ${values.concurrency}, ${rounds} rounds interleaved, median (min-max):\n`);
  console.log('| server | req/s | ratio to Python 3g | p50 ms | p99 ms | failed | children after | fds before/after | parent RSS MB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const s of summary) {
    console.log(`| ${s.name} | ${s.rps.median} (${s.rps.min}-${s.rps.max}) | ${s.ratioToPythonTutorial}× | ${s.p50} | ${s.p99} | ${s.failed} | ${s.childrenAfter} | ${s.fdsBefore}/${s.fdsAfter} | ${s.parentRssMb} |`);
  }
  console.log(`\nWritten to ${path.relative(process.cwd(), out)}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
