#!/usr/bin/env node
// The baseline without fork: node:http answering "Hello, World!\n" (Content-Length, keep-alive),
// the same bytes as concurrent-final's built-in hello app. Prints the suite's serving line first.
//
//   node bench/servers/node-http-hello.js [--port 0] [--host 127.0.0.1]
'use strict';
const http = require('node:http');
const { parseArgs } = require('node:util');

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
const BODY = Buffer.from('Hello, World!\n');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length });
  res.end(BODY);
});
server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`Serving HTTP on port ${server.address().port} ...\n`);
});
process.on('SIGTERM', () => process.exit(0));
