// An Express app that preloads about 100 MB of data at load time, held in a module variable: an
// object graph of 170,000 records with distinct strings (about 97 MB of V8 heap: heapUsed 104.5 MB
// against 7.3 MB for Express alone on Node 20; printed on stderr
// with FORKSERVE_BENCH_VERBOSE=1). A pre-fork server that loads the app once and forks shares
// those pages copy-on-write; a server whose workers each load the app holds one copy per worker.
// For bench/prefork.js (memory, and GC under an allocation-heavy route):
//   node dist/forkserve.js -w 2 --port 0 bench/servers/express-100mb.js:app
//   node bench/servers/express-cluster.js --workers 2 --app bench/servers/express-100mb.js:app
//
// Routes: GET /hello; GET /item/:i (one record); GET /sample (reads 200 records, sums their
// lengths); GET /pid; GET /alloc (allocation heavy: ~2 MB of short-lived objects and strings per
// request); GET /gc-stats (this process's GC events since its first request: count and ms, by kind,
// from a PerformanceObserver created lazily in each process, so a forked worker has its own).
'use strict';
const express = require('express');
const { PerformanceObserver, constants } = require('node:perf_hooks');

const RECORDS = Number(process.env.BENCH_RECORDS || 170_000);
const t0 = Date.now();
const data = new Array(RECORDS);
for (let i = 0; i < RECORDS; i++) {
  const key = `record-${i.toString(36)}-${(i * 2654435761 >>> 0).toString(16)}`;
  // ~160 distinct characters per record, built in one piece (a flat string, not a rope)
  const body = JSON.stringify({ i, h: (i * 40503 >>> 0).toString(36), f: Math.sqrt(i) }).padEnd(160, String.fromCharCode(97 + (i % 26)));
  data[i] = { id: i, key, body, score: i % 997, tags: [i % 7, i % 11, i % 13] };
}
if (process.env.FORKSERVE_BENCH_VERBOSE) {
  const m = process.memoryUsage();
  process.stderr.write(`express-100mb: ${RECORDS} records in ${Date.now() - t0} ms, heapUsed ${(m.heapUsed / 1048576).toFixed(1)} MB, rss ${(m.rss / 1048576).toFixed(1)} MB\n`);
}

// GC accounting, one observer per process (created at the first request the process serves)
const KIND = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
let gcPid = 0;
let gc = null;
function ensureObserver() {
  if (gcPid === process.pid) return;
  gcPid = process.pid;
  gc = { since: Date.now(), count: 0, ms: 0, byKind: {} };
  const stats = gc;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = KIND[e.detail ? e.detail.kind : e.kind] || 'other';
      stats.count++;
      stats.ms += e.duration;
      const k = (stats.byKind[kind] ||= { count: 0, ms: 0 });
      k.count++;
      k.ms += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
}

const app = express();
app.use((req, res, next) => {
  ensureObserver();
  next();
});
app.get('/hello', (req, res) => {
  res.type('text/plain').send('Hello world from Express!');
});
app.get('/pid', (req, res) => {
  res.type('text/plain').send(String(process.pid));
});
app.get('/item/:i', (req, res) => {
  const r = data[Number(req.params.i) % RECORDS];
  res.json(r);
});
let cursor = 0;
app.get('/sample', (req, res) => {
  let len = 0;
  for (let n = 0; n < 200; n++) {
    cursor = (cursor + 7919) % RECORDS;
    const r = data[cursor];
    len += r.key.length + r.body.length + r.tags[0];
  }
  res.type('text/plain').send(String(len));
});
app.get('/alloc', (req, res) => {
  // short-lived garbage: 20k small objects and 2k strings, ~2 MB
  const objs = [];
  for (let n = 0; n < 20_000; n++) objs.push({ n, s: n.toString(36), a: [n, n + 1] });
  const strs = [];
  for (let n = 0; n < 2_000; n++) strs.push(`${req.url}:${n}:${'y'.repeat(n % 200)}`);
  let sum = 0;
  for (const o of objs) sum += o.a[1];
  res.type('text/plain').send(`${sum} ${strs[strs.length - 1].length}`);
});
app.get('/gc-stats', (req, res) => {
  const m = process.memoryUsage();
  res.json({ pid: process.pid, ...gc, ms: Math.round(gc.ms * 100) / 100, heapUsedMb: Math.round(m.heapUsed / 10485.76) / 100 });
});
app.set('env', 'production');

module.exports = { app, data };
