// A response written in two pieces (issue 27): writeHead + write('hello '), then end('world\n') one
// event-loop turn later (setImmediate, as after any await between two writes), on a keep-alive
// connection, chunked (no Content-Length). With TCP_NODELAY on the accepted socket (what node:http
// does, and forkserve since issue 27) both pieces leave at once; with Nagle on, the second waits
// for the ACK of the first, which the client delays ~40 ms. For bench/nodelay.js:
//   node dist/forkserve.js -w 1 --port 0 bench/apps/two-writes.js:app
//   node dist/forkserve.js -w 1 --port 0 bench/apps/two-writes.js:nagle    (Nagle back on: the stall)
//
// app:      the two-write response, the socket as the server set it up.
// nagle:    the same after req.socket.setNoDelay(false), as an app may do: what TCP_NODELAY removes.
// nagleSameTick: Nagle on (setNoDelay(false)) but both pieces in the same tick (writeHead, write,
//           end): no stall, because node's ServerResponse corks the socket on the first write and
//           uncorks on the next tick, so node:http and forkserve's node gateway send the whole
//           response in one send() and Nagle has nothing to hold back. Not the case; here
//           to show why `app` writes its second piece a tick later.
'use strict';

function twoWrites(req, res) {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write('hello ');
  setImmediate(() => res.end('world\n'));
}

exports.app = twoWrites;

exports.nagle = (req, res) => {
  req.socket.setNoDelay(false);
  twoWrites(req, res);
};

exports.nagleSameTick = (req, res) => {
  req.socket.setNoDelay(false);
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write('hello ');
  res.end('world\n');
};
