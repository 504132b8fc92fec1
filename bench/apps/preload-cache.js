// An Express app that builds a big in-memory cache at load: a Map of about 50 MB of retained JS
// objects (PRELOAD_CACHE_MB, default 50: 1,740 entries per MB, each a record with a distinct key, a
// ~100-character string, a small nested object and an array; heapUsed about 50 MB above Express
// alone on Node 20, printed on stderr with FORKSERVE_BENCH_VERBOSE=1). With forkserve's default
// (preload) the master builds it once and the workers share its pages copy-on-write; with
// --no-preload every worker builds its own. For bench/preload.js:
//   node dist/forkserve.js -w 4 --port 0 bench/apps/preload-cache.js:app
//   node dist/forkserve.js -w 4 --port 0 --no-preload bench/apps/preload-cache.js:app
//
// Routes: GET /hello; GET /pid (this process's pid, as text); GET /item/:i (one entry, JSON);
// GET /sample (reads 200 entries, answers a small JSON summary: the load bench/preload.js runs);
// GET /heap (process.memoryUsage() of the process that answers, and the cache's build time).
'use strict';
const express = require('express');

const MB = Number(process.env.PRELOAD_CACHE_MB || 50);
const ENTRIES = Math.round(MB * 1740);
const t0 = process.hrtime.bigint();
const cache = new Map();
for (let i = 0; i < ENTRIES; i++) {
  const key = `user:${i.toString(36)}:${((i * 2654435761) >>> 0).toString(16)}`;
  cache.set(key, {
    id: i,
    // built in one piece, so a flat string rather than a rope
    name: `name-${i}-`.padEnd(100, String.fromCharCode(97 + (i % 26))),
    profile: { age: i % 90, score: (i * 40503) % 1000, active: i % 3 === 0 },
    tags: [i % 7, i % 11, i % 13, i % 17],
  });
}
const keys = [...cache.keys()];
const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
if (process.env.FORKSERVE_BENCH_VERBOSE) {
  const m = process.memoryUsage();
  process.stderr.write(`preload-cache: ${ENTRIES} entries in ${buildMs.toFixed(0)} ms, heapUsed ${(m.heapUsed / 1048576).toFixed(1)} MB, rss ${(m.rss / 1048576).toFixed(1)} MB\n`);
}

const app = express();
app.get('/hello', (req, res) => {
  res.type('text/plain').send('Hello world from Express!');
});
app.get('/pid', (req, res) => {
  res.type('text/plain').send(String(process.pid));
});
app.get('/item/:i', (req, res) => {
  res.json(cache.get(keys[Number(req.params.i) % ENTRIES]) ?? null);
});
let cursor = 0;
app.get('/sample', (req, res) => {
  let chars = 0;
  let score = 0;
  for (let n = 0; n < 200; n++) {
    cursor = (cursor + 7919) % ENTRIES;
    const e = cache.get(keys[cursor]);
    chars += e.name.length;
    score += e.profile.score + e.tags[0];
  }
  res.json({ entries: 200, chars, score });
});
app.get('/heap', (req, res) => {
  const m = process.memoryUsage();
  res.json({ pid: process.pid, entries: ENTRIES, buildMs: Math.round(buildMs), heapUsedMb: Math.round(m.heapUsed / 10485.76) / 100, rssMb: Math.round(m.rss / 10485.76) / 100 });
});
app.set('env', 'production');

module.exports = { app, cache };
