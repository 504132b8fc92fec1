#!/usr/bin/env node
// What a forked child really costs in memory: after it has served one request, read its
// /proc/<pid>/smaps_rollup (RSS, PSS, private dirty) and the parent's, for the canned stage and the
// HTTP hello app. Copy-on-write means RSS overstates a child; private dirty is what it owns.
//
//   node bench/child-memory.js        (Linux: needs /proc)
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rollup(pid) {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text) || [])[1] || 0);
  return { rssKb: kb('Rss'), pssKb: kb('Pss'), privateDirtyKb: kb('Private_Dirty'), sharedCleanKb: kb('Shared_Clean'), anonKb: kb('Anonymous') };
}

function childrenOf(ppid) {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === ppid;
    } catch {
      return false;
    }
  });
}

async function measure(name, args) {
  const proc = spawn(process.execPath, [path.join(ROOT, 'dist', 'concurrent-final.js'), '--port', '0', '--sleep', '5', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => {
        out += d;
        const m = /Serving HTTP on port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.on('exit', () => reject(new Error(`${name}: server exited`)));
    });
    // A first request warms the parent (its first fork sets up threads), then the one we measure.
    // The canned answer ends only when the child closes (after its sleep): curl gives up after 1 s.
    for (let i = 0; i < 2; i++) spawnSync('curl', ['-s', '-m', '1', '-H', 'Connection: close', `http://127.0.0.1:${port}/`]);
    await sleep(200);
    const kids = childrenOf(proc.pid);
    const child = kids[kids.length - 1];
    return { name, parent: rollup(proc.pid), child: rollup(child) };
  } finally {
    proc.kill('SIGKILL');
    for (const pid of childrenOf(proc.pid)) try { process.kill(pid, 'SIGKILL'); } catch {}
  }
}

(async () => {
  const rows = [await measure('canned', ['--canned']), await measure('HTTP hello app', [])];
  const result = { date: new Date().toISOString(), node: process.version, rows, goal: { childPrivateDirtyKb: 1024 } };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const out = path.join(__dirname, 'results', `child-memory-${result.date.slice(0, 10)}.json`);
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const mb = (kb) => (kb / 1024).toFixed(1);
  console.log('| mode | parent RSS MB | child RSS MB | child PSS MB | child private dirty MB |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${mb(r.parent.rssKb)} | ${mb(r.child.rssKb)} | ${mb(r.child.pssKb)} | ${mb(r.child.privateDirtyKb)} |`);
  console.log(`\nGoal: a hello-world child's private dirty memory <= 1 MB. Written to ${path.relative(process.cwd(), out)}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
