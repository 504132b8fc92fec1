#!/usr/bin/env node
// Apollo Server 5's standalone server (startStandaloneServer: node:http with cors and body-parser in
// front of Apollo, no Express) with the schema and resolvers of test/fixtures/apps/apollo.js (copied:
// the fixture starts its own ApolloServer when loaded). The "Apollo standalone" baseline of
// bench/frameworks.js. Prints the suite's serving line once it listens. Apollo's own TERM hook
// (stopOnTerminationSignals) stops it.
//
//   node bench/servers/apollo-standalone.js [--port 0] [--host 127.0.0.1]
'use strict';
const { parseArgs } = require('node:util');
const { ApolloServer } = require('@apollo/server');
const { startStandaloneServer } = require('@apollo/server/standalone');

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
const server = new ApolloServer({
  typeDefs: 'type Query { slow(ms: Int!): String }',
  resolvers: { Query: { slow: async (_, { ms }) => new Promise((resolve) => setTimeout(() => resolve(`done after ${ms} ms`), ms)) } },
});
startStandaloneServer(server, { listen: { port: Number(values.port), host: values.host } }).then(({ url }) => {
  process.stdout.write(`Serving HTTP on port ${new URL(url).port} ...\n`);
});
