// The NestJS app shared by express.js and fastify.js: one controller, one module. Plain JavaScript,
// no build step, so the decorators a TypeScript app would write (@Controller, @Get, @Body ...) are
// applied by hand: a class decorator is called with the class, a method decorator through
// Reflect.decorate with the method's descriptor, a parameter decorator with (prototype, method, index).
//
// NestJS 12 ships as ES modules only; this file is CommonJS and require()s them, which Node does
// from 20.19 and 22.12 on (require(esm)).
'use strict';
require('reflect-metadata'); // first: Nest's decorators write their metadata with it
const fs = require('node:fs');
const { Body, Controller, Get, HttpCode, Module, Post, Query } = require('@nestjs/common');

class AppController {
  hello() {
    return 'Hello world from NestJS!';
  }

  query(query) {
    return query;
  }

  echo(body) {
    return { received: body };
  }

  // Answers after a second: a request still in flight when the server is told to stop.
  async slow() {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return 'Slow hello from NestJS!';
  }
}

/** @Decorator() on a method, as TypeScript would apply it. */
function decorateMethod(decorators, name) {
  const proto = AppController.prototype;
  const descriptor = Reflect.decorate(decorators, proto, name, Object.getOwnPropertyDescriptor(proto, name));
  Object.defineProperty(proto, name, descriptor);
}

decorateMethod([Get('hello')], 'hello');
decorateMethod([Get('query')], 'query');
Query()(AppController.prototype, 'query', 0);
decorateMethod([Post('echo'), HttpCode(200)], 'echo'); // 200 like the other examples (Nest's default for POST is 201)
Body()(AppController.prototype, 'echo', 0);
decorateMethod([Get('slow')], 'slow');
Controller('')(AppController);

// A shutdown hook (run at a signal once enableShutdownHooks() is on): with $SHUTDOWN_FILE set, it
// appends "<pid> <signal>" to that file, so a test sees which processes ran it.
class ShutdownLog {
  onApplicationShutdown(signal) {
    if (process.env.SHUTDOWN_FILE) fs.appendFileSync(process.env.SHUTDOWN_FILE, `${process.pid} ${signal}\n`);
  }
}

class AppModule {}
Module({ controllers: [AppController], providers: [ShutdownLog] })(AppModule);

module.exports = { AppModule, AppController };
