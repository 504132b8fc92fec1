#!/usr/bin/env node
// A request that crashes its worker, again and again (issue 26): an Express 5 webhook whose
// JSON.parse throws in req.on('end') (test/fixtures/apps/webhook.js) takes N bad POSTs, each
// followed by a GET, while a second client sends GETs of its own. Before forkserve told a crash from
// a boot failure, 12 such POSTs halted `-w 4` for good. Says: the master alive at the end, every
// interleaved GET answered (and how long the slowest waited: the back-off once workers die fast),
// each crash logged with its request, and how many of the second client's GETs were in a worker
// when it crashed (those die with it, as under cluster: a process that crashes takes its requests).
//
//   node bench/crash-storm.js [--posts 200] [--workers 4] [--server forkserve|cluster] [--dist DIR] [--json FILE]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const { values: opt } = parseArgs({
  options: {
    posts: { type: 'string', default: '200' },
    workers: { type: 'string', default: '4' },
    server: { type: 'string', default: 'forkserve' },
    dist: { type: 'string' },
    json: { type: 'string' },
  },
});
if (!['forkserve', 'cluster'].includes(opt.server)) throw new Error('--server is forkserve or cluster');
const POSTS = Number(opt.posts);
const DIST = path.resolve(opt.dist ?? path.join(ROOT, 'dist'));
const APP = `${path.join(ROOT, 'test/fixtures/apps/webhook.js')}:app`;

function request(port, method, body) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method, path: method === 'POST' ? '/webhook' : '/', agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode, text, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      res.on('error', (e) => resolve({ status: 0, text: e.code, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, text: e.code || e.message, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    req.end(body);
  });
}

/** A port free now (cluster's workers listen on it again after all of them died: port 0 would be another). */
function freePort() {
  return new Promise((resolve) => {
    const s = require('node:net').createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

(async () => {
  const argv =
    opt.server === 'forkserve'
      ? [path.join(DIST, 'forkserve.js'), '-w', opt.workers, '--host', '127.0.0.1', '--port', '0', APP]
      : [path.join(ROOT, 'bench/servers/express-cluster.js'), '--respawn', '--workers', opt.workers, '--port', String(await freePort()), '--app', path.relative(ROOT, APP)];
  const server = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  server.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no serving line; stderr: ${stderr}`)), 20_000);
    server.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      const m = /^Serving HTTP on port (\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  await new Promise((r) => setTimeout(r, 1000)); // the workers boot
  const gets = [];
  let stop = false;
  const background = (async () => {
    while (!stop) gets.push({ ...(await request(port, 'GET')), who: 'background' });
  })();
  const started = Date.now();
  const posts = [];
  for (let i = 0; i < POSTS; i++) {
    posts.push(await request(port, 'POST', '{bad json'));
    gets.push({ ...(await request(port, 'GET')), who: 'interleaved' });
  }
  stop = true;
  await background;
  await new Promise((r) => setTimeout(r, 1000)); // the last crash's line
  const seconds = (Date.now() - started) / 1000;
  const alive = server.exitCode === null && server.signalCode === null;
  // (cluster's line is the bench server's own, and cannot name the request)
  const crashes = [...stderr.matchAll(opt.server === 'forkserve' ? /^Worker \d+ exited with code 1, serving POST \/webhook/gm : /^worker \d+ exited \(code 1/gm)].length;
  const failedOf = (who) => gets.filter((g) => g.who === who && (g.status !== 200 || !/^ok \d+$/.test(g.text)));
  const failed = failedOf('interleaved');
  const concurrentFailed = failedOf('background');
  const ms = gets.map((g) => g.ms);
  const result = {
    server: opt.server, date: new Date().toISOString(), node: process.version, workers: Number(opt.workers), posts: POSTS, seconds: +seconds.toFixed(1),
    masterAlive: alive,
    interleavedGets: gets.filter((g) => g.who === 'interleaved').length, interleavedFailed: failed.length, failedSample: failed.slice(0, 5),
    // A GET of the second client that a worker held when it crashed dies with it (as under cluster):
    concurrentGets: gets.filter((g) => g.who === 'background').length, concurrentFailed: concurrentFailed.length,
    concurrentFailures: [...new Set(concurrentFailed.map((g) => `${g.status} ${g.text}`))],
    getMs: { median: +median(ms).toFixed(1), max: +Math.max(...ms).toFixed(1) },
    postAnswers: Object.fromEntries([...new Set(posts.map((p) => `${p.status} ${p.text}`))].map((k) => [k, posts.filter((p) => `${p.status} ${p.text}` === k).length])),
    crashesLogged: crashes,
    otherExitLines: stderr.split('\n').filter((l) => /^Worker \d+ /.test(l) && !/serving POST \/webhook/.test(l)).slice(0, 10),
    backoffWarnings: (stderr.match(/Workers are dying fast/g) || []).length,
    haltedAtBoot: /died at boot/.test(stderr),
  };
  try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
  console.log(JSON.stringify(result, null, 2));
  if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(result, null, 2));
  process.exit(alive && failed.length === 0 && crashes >= POSTS ? 0 : 1);
})().catch((err) => { console.error(err); process.exit(1); });
