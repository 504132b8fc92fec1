#!/usr/bin/env node
// Clients that do not read (issue 26): N connections each ask for an 8 MB response made once at
// load (bench/apps/big-body.js) and read nothing. What the serving process pays for them (PSS of
// node:http's one process, of forkserve's one worker, before and after), and whether forkserve cuts
// them at --send-timeout (its open descriptors afterwards). Before forkserve sent from the app's
// buffer, each such client held a private copy of the response (500 clients: +4.1 GB).
//
//   node bench/slow-readers.js [--clients 200] [--send-timeout 5] [--json FILE]
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { children, killAll, rollup, sleep, startServer, stopServer } = require('./lib/proc');

const ROOT = path.resolve(__dirname, '..');
const { values: opt } = parseArgs({ options: { clients: { type: 'string', default: '200' }, 'send-timeout': { type: 'string', default: '5' }, json: { type: 'string' } } });
const N = Number(opt.clients);
const SEND_TIMEOUT = Number(opt['send-timeout']);
const APP = 'bench/apps/big-body.js:app';

const servers = [
  { name: 'node:http', cmd: process.execPath, args: [path.join(ROOT, 'bench/servers/node-http-app.js'), '--port', '0', APP], cwd: ROOT },
  { name: 'forkserve -w 1', cmd: process.execPath, args: [path.join(ROOT, 'dist/forkserve.js'), '-w', '1', '--port', '0', '--host', '127.0.0.1', '--send-timeout', String(SEND_TIMEOUT), APP], cwd: ROOT, workers: 1, detached: true },
];

const fds = (pid) => { try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return null; } };

async function measure(spec) {
  const server = await startServer(spec);
  const target = spec.workers ? children(server.pid)[0].pid : server.pid;
  const before = rollup(target);
  const fdsBefore = fds(target);
  const sockets = [];
  for (let i = 0; i < N; i++) {
    const s = net.connect(server.port, '127.0.0.1');
    s.on('error', () => {});
    s.once('connect', () => { s.pause(); s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); });
    sockets.push(s);
  }
  await sleep(3000); // every response written as far as the kernel takes it
  const during = rollup(target);
  const fdsDuring = fds(target);
  await sleep((SEND_TIMEOUT + 3) * 1000);
  const after = rollup(target);
  const fdsAfter = fds(target);
  for (const s of sockets) s.destroy();
  await stopServer(server);
  return {
    server: spec.name, clients: N,
    pssBeforeMb: +(before.pssKb / 1024).toFixed(1), pssWithClientsMb: +(during.pssKb / 1024).toFixed(1),
    pssGrowthMb: +((during.pssKb - before.pssKb) / 1024).toFixed(1), pssAfterTimeoutMb: +(after.pssKb / 1024).toFixed(1),
    openFds: { before: fdsBefore, withClients: fdsDuring, afterSendTimeout: fdsAfter },
  };
}

(async () => {
  const results = [];
  for (const spec of servers) results.push(await measure(spec));
  console.log(`| server | clients | PSS before | with the clients | growth | ${SEND_TIMEOUT + 3} s later | open fds before / with / after |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.server} | ${r.clients} | ${r.pssBeforeMb} MB | ${r.pssWithClientsMb} MB | ${r.pssGrowthMb} MB | ${r.pssAfterTimeoutMb} MB | ${r.openFds.before} / ${r.openFds.withClients} / ${r.openFds.afterSendTimeout} |`);
  if (opt.json) fs.writeFileSync(opt.json, JSON.stringify({ date: new Date().toISOString(), node: process.version, sendTimeoutS: SEND_TIMEOUT, results }, null, 2));
})().catch((err) => { console.error(err); killAll(); process.exit(1); });
