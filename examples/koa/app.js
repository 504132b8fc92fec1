// A Koa app. forkserve calls app.callback(), as node:http would:
//   node dist/concurrent-final.js examples/koa/app.js:app
'use strict';
const crypto = require('node:crypto');
const Koa = require('koa');
const { Router } = require('@koa/router');

const app = new Koa();
app.silent = true; // Koa answers a thrown error with 500; do not print it
const router = new Router();

async function readJson(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

router.get('/hello', (ctx) => {
  ctx.type = 'text/plain';
  ctx.body = 'Hello world from Koa!';
});

router.get('/query', (ctx) => {
  ctx.body = { query: ctx.query };
});

router.post('/echo', async (ctx) => {
  ctx.body = { received: await readJson(ctx.req) };
});

router.post('/upload', async (ctx) => {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  for await (const chunk of ctx.req) {
    bytes += chunk.length;
    hash.update(chunk);
  }
  ctx.body = { bytes, sha256: hash.digest('hex') };
});

function ticker(count, size, ms) {
  const { Readable } = require('node:stream');
  let i = 0;
  let timer;
  return new Readable({
    read() {
      timer = setTimeout(() => {
        this.push(size ? Buffer.alloc(size, 'x') : `chunk ${i}\n`);
        if (++i === count) this.push(null);
      }, ms);
    },
    destroy(err, cb) {
      clearTimeout(timer);
      cb(err);
    },
  });
}

router.get('/stream', (ctx) => {
  ctx.type = 'text/plain';
  ctx.body = ticker(5, 0, 10);
});

router.get('/slow', (ctx) => {
  ctx.type = 'application/octet-stream';
  ctx.body = ticker(500, 1024, 10);
});

router.get('/redirect', (ctx) => {
  ctx.status = 302;
  ctx.redirect('/hello');
});

router.get('/cookies', (ctx) => {
  ctx.cookies.set('a', '1', { httpOnly: false });
  ctx.cookies.set('b', '2');
  ctx.cookies.set('c', '3', { path: '/x' });
  ctx.type = 'text/plain';
  ctx.body = 'three cookies';
});

router.get('/error', () => {
  throw new Error('boom (a handler that throws)');
});

app.use(router.routes()).use(router.allowedMethods());

module.exports = { app };

if (require.main === module) {
  const server = app.listen(Number(process.env.PORT ?? 3000), () => console.log(`Serving HTTP on port ${server.address().port} ...`));
}
