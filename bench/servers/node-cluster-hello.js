#!/usr/bin/env node
// node:http hello under `cluster`: a primary and --workers processes (default 2) sharing one
// listening port through cluster's round-robin scheduling (the primary accepts and hands the
// connections to the workers). Workers are new node processes (spawned, not forked): no
// copy-on-write sharing with the primary. The primary prints the serving line once every worker
// listens (with port 0, cluster gives every worker the same port); it is the first stdout line.
//
//   node bench/servers/node-cluster-hello.js [--port 0] [--host 127.0.0.1] [--workers 2]
'use strict';
const cluster = require('node:cluster');
const http = require('node:http');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    workers: { type: 'string', default: '2' },
  },
});
const BODY = Buffer.from('Hello, World!\n');

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const n = Number(values.workers);
  const ports = new Set();
  let listening = 0;
  let stopping = false;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('listening', (worker, address) => {
    ports.add(address.port);
    if (++listening < n) return;
    if (ports.size !== 1) {
      process.stderr.write(`workers listen on different ports: ${[...ports].join(', ')}\n`);
      stop(1);
      return;
    }
    process.stdout.write(`Serving HTTP on port ${[...ports][0]} ... (cluster, ${n} workers)\n`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) process.stderr.write(`worker ${worker.process.pid} exited (code ${code}, signal ${signal})\n`);
  });
  const stop = (code) => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(code), 200).unref();
    cluster.disconnect(() => process.exit(code));
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
} else {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length });
    res.end(BODY);
  });
  server.listen(Number(values.port), values.host);
  process.on('SIGTERM', () => process.exit(0));
}
