// NestJS on its Fastify adapter, for forkserve:
//   node dist/forkserve.js -w 2 examples/nestjs/fastify.js:app
//   node dist/concurrent-final.js examples/nestjs/fastify.js:app
//   node examples/nestjs/fastify.js          # Nest's own server (PORT, default 3000), for comparison
// The export is a Promise (forkserve awaits it before forking) of the Fastify instance Nest has set
// up: forkserve awaits its ready(), then serves with its routing(req, res), as for any Fastify app.
'use strict';
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { FastifyAdapter } = require('@nestjs/platform-fastify');
const { AppModule } = require('./app.module');

// logger: false: Nest logs its start-up to stdout, before forkserve's "Serving HTTP on port N ...".
const nest = NestFactory.create(AppModule, new FastifyAdapter(), { logger: false }).then(async (nestApp) => {
  nestApp.enableShutdownHooks(); // SIGTERM: app.close(), then the signal again
  await nestApp.init();
  return nestApp;
});

exports.app = nest.then((nestApp) => nestApp.getHttpAdapter().getInstance());

if (require.main === module) {
  nest.then((nestApp) => nestApp.listen(process.env.PORT || 3000));
}
