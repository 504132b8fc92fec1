// One 8 MB body made at load and sent to every client (bench/slow-readers.js).
'use strict';
const BODY = Buffer.alloc(8 * 1024 * 1024, 'x');
exports.app = (req, res) => {
  res.setHeader('content-type', 'application/octet-stream');
  res.end(BODY);
};
