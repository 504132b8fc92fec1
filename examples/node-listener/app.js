// A plain node:http request listener, no framework: `(req, res) => ...` is the whole interface.
//   node dist/webserver2.js examples/node-listener/app.js
'use strict';
const crypto = require('node:crypto');

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function app(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const route = `${req.method === 'HEAD' ? 'GET' : req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /hello':
      return send(res, 200, 'text/plain; charset=utf-8', 'Hello world from a node:http listener!');
    case 'GET /query': {
      const query = {};
      for (const key of new Set(url.searchParams.keys())) {
        const values = url.searchParams.getAll(key);
        query[key] = values.length === 1 ? values[0] : values;
      }
      return send(res, 200, 'application/json', JSON.stringify({ query }));
    }
    case 'POST /echo': {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => send(res, 200, 'application/json', JSON.stringify({ received: JSON.parse(text) })));
      return;
    }
    case 'POST /upload': {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => send(res, 200, 'application/json', JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      return;
    }
    case 'GET /stream':
    case 'GET /slow': {
      const slow = url.pathname === '/slow';
      res.writeHead(200, { 'Content-Type': slow ? 'application/octet-stream' : 'text/plain; charset=utf-8' });
      let i = 0;
      const timer = setInterval(() => {
        res.write(slow ? Buffer.alloc(1024, 'x') : `chunk ${i}\n`);
        if (++i === (slow ? 500 : 5)) {
          clearInterval(timer);
          res.end();
        }
      }, 10);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case 'GET /redirect':
      return send(res, 302, 'text/plain; charset=utf-8', 'Found. Redirecting to /hello', { Location: '/hello' });
    case 'GET /cookies':
      return send(res, 200, 'text/plain; charset=utf-8', 'three cookies', { 'Set-Cookie': ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Path=/x'] });
    case 'GET /error':
      throw new Error('boom (a handler that throws)');
    default:
      return send(res, 404, 'text/plain; charset=utf-8', 'Not Found');
  }
}

module.exports = app;
