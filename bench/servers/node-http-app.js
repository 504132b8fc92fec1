#!/usr/bin/env node
// Any node-style app (module:export, the path relative to the repository root) on plain node:http,
// one process: http.createServer(app).listen(port). Prints the suite's serving line first. The
// baseline of bench/nodelay.js (node:http turns TCP_NODELAY on for every accepted connection).
//
//   node bench/servers/node-http-app.js [--port 0] [--host 127.0.0.1] bench/apps/two-writes.js:app
'use strict';
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});
const spec = positionals[0] || 'bench/apps/two-writes.js:app';
const colon = spec.lastIndexOf(':');
const file = colon > 0 ? spec.slice(0, colon) : spec;
const name = colon > 0 ? spec.slice(colon + 1) : 'app';
const app = require(path.resolve(__dirname, '..', '..', file))[name];
if (typeof app !== 'function') throw new Error(`${spec}: not a function`);

const server = http.createServer(app);
server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`Serving HTTP on port ${server.address().port} ...\n`);
});
process.on('SIGTERM', () => process.exit(0));
