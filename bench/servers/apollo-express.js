#!/usr/bin/env node
// The Apollo Server fixture (test/fixtures/apps/apollo.js: Apollo Server 5 on Express 5 with
// expressMiddleware at /graphql) on plain node:http, one process, as its docs run it
// (http.createServer(app).listen): the baseline of bench/frameworks.js for the same app code that
// forkserve hosts. Prints the suite's serving line once it listens. The fixture's own TERM hook
// (stopOnTerminationSignals) stops it.
//
//   node bench/servers/apollo-express.js [--port 0] [--host 127.0.0.1]
'use strict';
const http = require('node:http');
const { parseArgs } = require('node:util');

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
require('../../test/fixtures/apps/apollo.js').app.then((app) => {
  const server = http.createServer(app);
  server.listen(Number(values.port), values.host, () => {
    process.stdout.write(`Serving HTTP on port ${server.address().port} ...\n`);
  });
});
