// An Express project: the tutorial's Django "helloworld" counterpart.
//   node dist/webserver2.js examples/express/app.js:app          (part 2: the gateway)
//   node dist/concurrent-final.js examples/express/app.js:app    (3h: a fork per connection)
// The routes are the same in every example (see examples/README.md); the app knows nothing of
// forkserve: `node examples/express/app.js` serves it with node:http instead.
'use strict';
const crypto = require('node:crypto');
const express = require('express');

const app = express();

app.get('/hello', (req, res) => {
  res.type('text/plain').send('Hello world from Express!');
});

app.get('/query', (req, res) => {
  res.json({ query: req.query });
});

app.post('/echo', express.json(), (req, res) => {
  res.json({ received: req.body });
});

app.post('/upload', (req, res, next) => {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => res.json({ bytes, sha256: hash.digest('hex') }));
  req.on('error', next);
});

app.get('/stream', (req, res) => {
  res.type('text/plain');
  let i = 0;
  const timer = setInterval(() => {
    res.write(`chunk ${i}\n`);
    if (++i === 5) {
      clearInterval(timer);
      res.end();
    }
  }, 10);
  res.on('close', () => clearInterval(timer));
});

app.get('/slow', (req, res) => {
  res.type('application/octet-stream');
  let i = 0;
  const timer = setInterval(() => {
    res.write(Buffer.alloc(1024, 'x'));
    if (++i === 500) {
      clearInterval(timer);
      res.end();
    }
  }, 10);
  res.on('close', () => clearInterval(timer));
});

app.get('/redirect', (req, res) => {
  res.redirect(302, '/hello');
});

app.get('/cookies', (req, res) => {
  res.cookie('a', '1').cookie('b', '2', { httpOnly: true }).cookie('c', '3', { path: '/x' });
  res.type('text/plain').send('three cookies');
});

app.get('/error', () => {
  throw new Error('boom (a handler that throws)');
});

// A thrown error: Express's own handler answers 500; keep it quiet in the logs of the test runs.
app.set('env', 'production');

module.exports = { app };

if (require.main === module) {
  const port = Number(process.env.PORT ?? 3000);
  const server = app.listen(port, () => console.log(`Serving HTTP on port ${server.address().port} ...`));
}
