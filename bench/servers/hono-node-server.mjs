#!/usr/bin/env node
// The Hono example (examples/hono/app.mjs) on Hono's own Node server, @hono/node-server: the
// baseline of bench/frameworks.js for Hono. Prints the suite's serving line once it listens.
//
//   node bench/servers/hono-node-server.mjs [--port 0] [--host 127.0.0.1]
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { app } from '../../examples/hono/app.mjs';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
serve({ fetch: app.fetch, port: Number(values.port), hostname: values.host }, (info) => {
  process.stdout.write(`Serving HTTP on port ${info.port} ...\n`);
});
process.on('SIGTERM', () => process.exit(0));
