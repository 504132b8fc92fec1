#!/usr/bin/env node
// An Express app under `cluster` (round-robin): the primary does not load the app; it forks
// --workers processes (spawned node processes, not fork(): no copy-on-write sharing), each requires
// the app and listens on --port. The primary prints `Serving HTTP on port N ...` once every worker
// listens (the first stdout line), then `Booting worker with pid N` per worker. Signals to the
// primary: TTIN forks one more worker and prints `Booting worker with pid N` once it listens; TTOU
// stops the newest worker; TERM/INT stop everything. The counterpart of
//   node dist/forkserve.js -w N --port 0 <app>
// for bench/prefork.js.
//
//   node bench/servers/express-cluster.js [--port 0] [--host 127.0.0.1] [--workers 2]
//       [--app examples/express/app.js:app] [--respawn]      (module path relative to the repository root)
'use strict';
const cluster = require('node:cluster');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..', '..');
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    workers: { type: 'string', default: '2' },
    app: { type: 'string', default: 'examples/express/app.js:app' },
    // A worker that dies is replaced, as cluster users write it (bench/crash-storm.js).
    respawn: { type: 'boolean', default: false },
  },
});

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const n = Number(values.workers);
  const ports = new Set();
  const booted = [];
  let serving = false;
  let stopping = false;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('listening', (worker, address) => {
    ports.add(address.port);
    if (serving) {
      process.stdout.write(`Booting worker with pid ${worker.process.pid}\n`);
      return;
    }
    booted.push(worker.process.pid);
    if (booted.length < n) return;
    if (ports.size !== 1) {
      process.stderr.write(`workers listen on different ports: ${[...ports].join(', ')}\n`);
      stop(1);
      return;
    }
    serving = true;
    process.stdout.write(`Serving HTTP on port ${[...ports][0]} ... (cluster, ${n} workers, ${values.app})\n`);
    for (const pid of booted) process.stdout.write(`Booting worker with pid ${pid}\n`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping && !worker.exitedAfterDisconnect) {
      process.stderr.write(`worker ${worker.process.pid} exited (code ${code}, signal ${signal})\n`);
      if (values.respawn) cluster.fork();
    }
  });
  process.on('SIGTTIN', () => {
    if (!stopping) cluster.fork();
  });
  process.on('SIGTTOU', () => {
    const ws = Object.values(cluster.workers);
    if (ws.length > 1) ws[ws.length - 1].disconnect();
  });
  const stop = (code) => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(code), 500).unref();
    cluster.disconnect(() => process.exit(code));
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
} else {
  const [file, name = 'app'] = values.app.split(':');
  const app = require(path.resolve(ROOT, file))[name];
  const server = http.createServer(app);
  server.listen(Number(values.port), values.host);
  process.on('SIGTERM', () => process.exit(0));
}
