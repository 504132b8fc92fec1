// Next.js through its custom-server handler, for forkserve:
//   node_modules/.bin/next build examples/nextjs
//   node dist/forkserve.js -w 2 examples/nextjs/server.js:app
//   node dist/concurrent-final.js examples/nextjs/server.js:app
// The export is a Promise (forkserve awaits it before forking, so every worker or child starts with
// Next prepared) of a (req, res) listener.
'use strict';
const next = require('next');

const nextApp = next({ dev: false, dir: __dirname });
const handle = nextApp.getRequestHandler();

exports.app = nextApp.prepare().then(() => (req, res) => handle(req, res));
