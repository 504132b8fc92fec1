// The built-in hello app's answer from a plain (req, res) listener, so concurrent-final's two HTTP
// connection engines can be compared on the same bytes: the blocking loop (built-in app) and the
// evented gateway (apps).  node dist/concurrent-final.js bench/servers/hello-listener.js:app
'use strict';
const BODY = 'Hello, World!\n';

module.exports.app = (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(BODY.length) });
  res.end(BODY);
};
