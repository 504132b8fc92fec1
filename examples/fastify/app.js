// A Fastify app. forkserve awaits app.ready() before forking, then calls app.routing(req, res),
// the handler Fastify gives its own http.Server:
//   node dist/concurrent-final.js examples/fastify/app.js:app
'use strict';
const crypto = require('node:crypto');
const { Readable } = require('node:stream');
const fastify = require('fastify');

const app = fastify({ logger: false });

// Any other body type: hash it as it streams in.
app.addContentTypeParser('*', (request, payload, done) => {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  payload.on('data', (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  payload.on('end', () => done(null, { bytes, sha256: hash.digest('hex') }));
  payload.on('error', done);
});

app.get('/hello', async (request, reply) => {
  reply.type('text/plain');
  return 'Hello world from Fastify!';
});

app.get('/query', async (request) => ({ query: request.query }));

app.post('/echo', async (request) => ({ received: request.body }));

app.post('/upload', async (request) => request.body);

function ticker(count, size, ms) {
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

app.get('/stream', (request, reply) => {
  reply.type('text/plain').send(ticker(5, 0, 10));
});

app.get('/slow', (request, reply) => {
  reply.type('application/octet-stream').send(ticker(500, 1024, 10));
});

app.get('/redirect', (request, reply) => {
  reply.redirect('/hello', 302);
});

app.get('/cookies', (request, reply) => {
  reply.header('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Path=/x']);
  reply.type('text/plain').send('three cookies');
});

app.get('/error', async () => {
  throw new Error('boom (a handler that throws)');
});

module.exports = { app };

if (require.main === module) {
  app.listen({ port: Number(process.env.PORT ?? 3000) }).then(() => console.log(`Serving HTTP on port ${app.server.address().port} ...`));
}
