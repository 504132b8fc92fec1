#!/usr/bin/env node
// A connection flood against concurrent-final: N connections that send nothing (or half a request
// line with --half), then one normal request. Reports the peak number of children, the peak total
// PSS of the server's process tree, and how long the normal client waited for its answer.
//
//   node bench/flood.js [--conns 1000] [--half] [--max-children N] ["--extra=--headers-timeout 10"]
//                       [--seconds 60] [--json]
//
// Runs each configuration given by --max-children (comma-separated; "none" = no cap, as before the
// cap existed) in turn. Linux only (/proc). The flood's sockets live in this process (its soft
// descriptor limit is raised to the hard limit).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { parseArgs } = require('node:util');
const P = require('./lib/proc');

const { values } = parseArgs({
  options: {
    conns: { type: 'string', default: '1000' },
    half: { type: 'boolean', default: false },
    'max-children': { type: 'string', default: 'none,256' },
    extra: { type: 'string', default: '' },
    seconds: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
  },
});
const CONNS = Number(values.conns);
const SECONDS = Number(values.seconds);
const posix = require(path.join(__dirname, '..', 'dist', 'posix.js'));
const { hard } = posix.getrlimit('NOFILE');
posix.setrlimit('NOFILE', { soft: hard, hard });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Children from /proc (no ps per sample) and Pss from smaps_rollup: bench/lib/proc.js.
const tree = (root) => P.childrenFromProc(root).map((c) => c.pid);
const pssKb = (pid) => P.rollup(pid)?.pssKb ?? 0;

function startServer(cap) {
  const args = [path.join(__dirname, '..', 'dist', 'concurrent-final.js'), '--port', '0', '--backlog', '4096'];
  if (cap !== 'none') args.push('--max-children', cap);
  else args.push('--max-children', '1000000');
  args.push(...values.extra.split(' ').filter(Boolean));
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /^Serving HTTP on port (\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]), stderr: () => err });
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

function normalRequest(port) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: SECONDS * 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, waitedMs: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', (e) => resolve({ status: null, error: e.code, waitedMs: Date.now() - t0 }));
  });
}

async function one(cap) {
  const server = await startServer(cap);
  const sockets = [];
  let peakChildren = 0;
  let peakPssMb = 0;
  const sampler = setInterval(() => {
    const kids = tree(server.proc.pid);
    peakChildren = Math.max(peakChildren, kids.length);
    const pss = kids.reduce((n, k) => n + pssKb(k), pssKb(server.proc.pid));
    peakPssMb = Math.max(peakPssMb, Math.round(pss / 1024));
  }, 250);
  const t0 = Date.now();
  let opened = 0;
  for (let i = 0; i < CONNS; i++) {
    const s = net.connect(server.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => {
      opened++;
      if (values.half) s.write('GET /hello HTTP/1.1\r\nHost: ');
    });
    sockets.push(s);
    if (i % 100 === 99) await sleep(10);
  }
  await sleep(1000);
  const normal = await normalRequest(server.port);
  clearInterval(sampler);
  for (const s of sockets) s.destroy();
  server.proc.kill('SIGKILL');
  await sleep(200);
  const capWarning = server.stderr().includes('--max-children');
  return { maxChildren: cap, conns: CONNS, opened, half: values.half, extra: values.extra, peakChildren, peakPssMb, normal, capWarning, ms: Date.now() - t0 };
}

(async () => {
  const results = [];
  for (const cap of values['max-children'].split(',')) {
    const r = await one(cap);
    results.push(r);
    if (!values.json) console.log(JSON.stringify(r));
  }
  if (values.json) console.log(JSON.stringify(results));
})();
