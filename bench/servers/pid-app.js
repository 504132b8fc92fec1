// A tiny Express app that says which process answered: GET /pid -> the pid, as text. For
// bench/prefork.js (time to a new worker's first answer, how connections spread over workers):
//   node dist/forkserve.js -w 2 --port 0 bench/servers/pid-app.js:app
//   node bench/servers/express-cluster.js --workers 2 --app bench/servers/pid-app.js:app
'use strict';
const express = require('express');

const app = express();
app.get('/pid', (req, res) => {
  res.type('text/plain').send(String(process.pid));
});
app.get('/hello', (req, res) => {
  res.type('text/plain').send('Hello world from Express!');
});
app.set('env', 'production');

module.exports = { app };
