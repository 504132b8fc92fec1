#!/usr/bin/env node
// Parse throughput: forkserve's TypeScript parser vs Node's bundled llhttp (HTTPParser from
// _http_common), same process, same inputs, interleaved rounds. Reports MB/s and requests/s and
// the ratio (goal: >= 0.5x llhttp).
//
//   npm run build && node bench/http-parse.js [--rounds 5] [--ms 1000]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { RequestParser } = require('../dist/http/parser.js');
const { HTTPParser } = require('node:_http_common');

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, ms: { type: 'string', default: '1000' } } });

// Realistic requests: a browser GET, an API POST with JSON, a curl GET, a chunked upload.
const REQUESTS = [
  'GET /products/42?ref=home&utm_source=newsletter HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nCookie: session=3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d; theme=dark; cart=17\r\nConnection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n\r\n',
  `POST /api/v1/orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\nAccept: application/json\r\nContent-Length: 96\r\n\r\n${JSON.stringify({ items: [{ sku: 'A-17', qty: 2 }, { sku: 'B-3', qty: 1 }], coupon: 'WINTER', note: 'ring twice' }).padEnd(96)}`,
  'GET /hello HTTP/1.1\r\nHost: localhost:8888\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n',
  `PUT /upload/file.bin HTTP/1.1\r\nHost: files.example.com\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n400\r\n${'x'.repeat(1024)}\r\n400\r\n${'y'.repeat(1024)}\r\n0\r\n\r\n`,
];
const BATCH = Buffer.from(REQUESTS.join('').repeat(50), 'latin1'); // pipelined, as on a keep-alive connection
const MESSAGES = REQUESTS.length * 50;

function ours() {
  let n = 0;
  const p = new RequestParser({ onHead() {}, onBody() {}, onMessageComplete() { n++; } });
  p.push(BATCH);
  if (n !== MESSAGES) throw new Error(`ours parsed ${n} of ${MESSAGES}`);
}

const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
const kOnBody = HTTPParser.kOnBody | 0;
const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;
function llhttp() {
  let n = 0;
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {});
  p[kOnHeadersComplete] = () => 0;
  p[kOnBody] = () => {};
  p[kOnMessageComplete] = () => { n++; };
  const r = p.execute(BATCH);
  if (r instanceof Error) throw r;
  if (n !== MESSAGES) throw new Error(`llhttp parsed ${n} of ${MESSAGES}`);
}

function measure(fn, ms) {
  const end = process.hrtime.bigint() + BigInt(ms) * 1000000n;
  let iters = 0;
  const t0 = process.hrtime.bigint();
  while (process.hrtime.bigint() < end) {
    fn();
    iters++;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbPerS: (iters * BATCH.length) / secs / 1e6, reqPerS: (iters * MESSAGES) / secs };
}

for (let i = 0; i < 200; i++) { ours(); llhttp(); } // warm-up: both JIT-compiled
const rounds = Number(values.rounds);
const rows = { ours: [], llhttp: [] };
for (let r = 0; r < rounds; r++) {
  rows.ours.push(measure(ours, Number(values.ms)));
  rows.llhttp.push(measure(llhttp, Number(values.ms)));
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const summary = {};
for (const [k, v] of Object.entries(rows)) summary[k] = { mbPerS: +median(v.map((x) => x.mbPerS)).toFixed(1), reqPerS: Math.round(median(v.map((x) => x.reqPerS))), min: +Math.min(...v.map((x) => x.mbPerS)).toFixed(1), max: +Math.max(...v.map((x) => x.mbPerS)).toFixed(1) };
const ratio = +(summary.ours.mbPerS / summary.llhttp.mbPerS).toFixed(2);
const result = { date: new Date().toISOString(), node: process.version, batchBytes: BATCH.length, messages: MESSAGES, rounds, summary, ratio, goal: 0.5 };
fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
const out = path.join(__dirname, 'results', `http-parse-${result.date.slice(0, 10)}.json`);
fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log('| parser | MB/s median (min-max) | requests/s |');
console.log('|---|---|---|');
console.log(`| forkserve (TypeScript) | ${summary.ours.mbPerS} (${summary.ours.min}-${summary.ours.max}) | ${summary.ours.reqPerS} |`);
console.log(`| llhttp (node's HTTPParser) | ${summary.llhttp.mbPerS} (${summary.llhttp.min}-${summary.llhttp.max}) | ${summary.llhttp.reqPerS} |`);
console.log(`\nratio ${ratio}x llhttp (goal >= 0.5x). Written to ${path.relative(process.cwd(), out)}`);
