// NestJS on its Express adapter, for forkserve:
//   node dist/forkserve.js -w 2 examples/nestjs/express.js:app
//   node dist/concurrent-final.js examples/nestjs/express.js:app
//   node examples/nestjs/express.js          # Nest's own server (PORT, default 3000), for comparison
// The export is a Promise (forkserve awaits it before forking, so every worker or child starts with
// Nest initialised) of the Express instance Nest has set up: a (req, res, next) function.
'use strict';
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { AppModule } = require('./app.module');

// logger: false: Nest logs its start-up to stdout, before forkserve's "Serving HTTP on port N ...".
const nest = NestFactory.create(AppModule, { logger: false }).then(async (nestApp) => {
  nestApp.enableShutdownHooks(); // SIGTERM: app.close(), then the signal again
  await nestApp.init();
  return nestApp;
});

exports.app = nest.then((nestApp) => nestApp.getHttpAdapter().getInstance());

if (require.main === module) {
  nest.then((nestApp) => nestApp.listen(process.env.PORT || 3000));
}
