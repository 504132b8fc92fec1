#!/usr/bin/env node
// The Express example (examples/express/app.js, unmodified) on plain node:http: the other side of
// the gateway figure (the same app on concurrent-final, a fork per connection). URL: /hello.
//
//   node bench/servers/express-node-http.js [--port 0] [--host 127.0.0.1]
'use strict';
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
const { app } = require(path.join(__dirname, '..', '..', 'examples', 'express', 'app.js'));

const server = http.createServer(app);
server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`Serving HTTP on port ${server.address().port} ...\n`);
});
process.on('SIGTERM', () => process.exit(0));
