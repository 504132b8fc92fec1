// Load generators for the benchmark suite, each run as its own process with a hard timeout, and
// their output parsed into one shape:
//   { tool, ok, rps, requests, failed, p50, p99 (ms), error }
//
//   ab(url, { requests, concurrency, timeoutMs })      ApacheBench (Debian apache2-utils): a new
//       connection per request (HTTP/1.0, no keep-alive); percentiles from its CSV (-e), in ms
//       with decimals; -r so that a reset is counted as a failed request instead of aborting.
//   wrk(url, { seconds, concurrency, threads })         wrk --latency: keep-alive where the server
//       allows it; failed = socket errors (connect/read/write/timeout) + non-2xx/3xx responses.
//   autocannon(url, { seconds, concurrency })           the npm devDependency, run as a separate
//       node process (-j: JSON); keep-alive like wrk.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { run, which } = require('./proc');

const num = (re, text) => {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
};

// ab's percentile files, removed even when the suite is interrupted
const tmpFiles = new Set();
process.on('exit', () => {
  for (const f of tmpFiles) fs.rmSync(f, { force: true });
});

async function ab(url, { requests, concurrency, timeoutMs = 180_000, socketTimeoutS = 10 }) {
  const csv = path.join(os.tmpdir(), `forkserve-ab-${process.pid}-${Date.now()}.csv`);
  tmpFiles.add(csv);
  const r = await run('ab', ['-q', '-r', '-s', String(socketTimeoutS), '-n', String(requests), '-c', String(concurrency), '-e', csv, url], { timeoutMs });
  const out = r.stdout;
  const complete = num(/Complete requests:\s+(\d+)/, out);
  const res = {
    tool: 'ab',
    ok: r.code === 0 && complete !== null,
    rps: num(/Requests per second:\s+([\d.]+)/, out),
    requests: complete,
    failed: (num(/Failed requests:\s+(\d+)/, out) ?? 0) + (num(/Non-2xx responses:\s+(\d+)/, out) ?? 0),
    p50: null,
    p99: null,
    seconds: num(/Time taken for tests:\s+([\d.]+)/, out),
  };
  try {
    const rows = fs.readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
    const at = (p) => (rows.find((x) => x[0] === p) || [])[1];
    res.p50 = round2(at(50));
    res.p99 = round2(at(99));
  } catch {
    res.p50 = num(/\s50%\s+(\d+)/, out);
    res.p99 = num(/\s99%\s+(\d+)/, out);
  } finally {
    fs.rmSync(csv, { force: true });
    tmpFiles.delete(csv);
  }
  if (!res.ok) res.error = r.timedOut ? `ab timed out after ${timeoutMs} ms` : `ab exited ${r.code}: ${lastLines(r.stderr || out)}`;
  return res;
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
function wrkTime(re, text) {
  const m = re.exec(text);
  return m ? round2(Number(m[1]) * UNIT_MS[m[2]]) : null;
}

async function wrk(url, { seconds, concurrency, threads = 1, timeoutMs }) {
  const args = ['-t', String(Math.min(threads, concurrency)), '-c', String(concurrency), '-d', `${seconds}s`, '--latency', '--timeout', '5s', url];
  const r = await run('wrk', args, { timeoutMs: timeoutMs ?? (seconds + 30) * 1000 });
  const out = r.stdout;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0;
  const res = {
    tool: 'wrk',
    ok: r.code === 0 && /Requests\/sec/.test(out),
    rps: num(/Requests\/sec:\s+([\d.]+)/, out),
    requests: num(/(\d+) requests in/, out),
    failed: socketErrors + (num(/Non-2xx or 3xx responses:\s+(\d+)/, out) ?? 0),
    p50: wrkTime(/^\s+50%\s+([\d.]+)(us|ms|s|m)\b/m, out),
    p99: wrkTime(/^\s+99%\s+([\d.]+)(us|ms|s|m)\b/m, out),
    socketErrors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : null,
  };
  if (!res.ok) res.error = r.timedOut ? 'wrk timed out' : `wrk exited ${r.code}: ${lastLines(r.stderr || out)}`;
  return res;
}

const AUTOCANNON = (() => {
  try {
    return require.resolve('autocannon/autocannon.js');
  } catch {
    return null;
  }
})();

async function autocannon(url, { seconds, concurrency, timeoutMs }) {
  const r = await run(process.execPath, [AUTOCANNON, '-j', '-c', String(concurrency), '-d', String(seconds), '-t', '5', url], { timeoutMs: timeoutMs ?? (seconds + 30) * 1000 });
  let j = null;
  try {
    j = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {}
  if (!j) return { tool: 'autocannon', ok: false, error: `autocannon exited ${r.code}: ${lastLines(r.stderr || r.stdout)}` };
  return {
    tool: 'autocannon',
    ok: r.code === 0,
    rps: round2(j.requests.total / j.duration),
    requests: j.requests.total,
    failed: (j.errors || 0) + (j.timeouts || 0) + (j.non2xx || 0),
    p50: j.latency.p50,
    p99: j.latency.p99,
  };
}

/** The second tool: 'wrk' if installed (a C client uses less of the 2 cores), else autocannon. */
function pickTool2(wanted) {
  if (wanted === 'none') return { name: 'none' };
  if (wanted === 'wrk' || wanted === 'auto') {
    if (which('wrk')) return { name: 'wrk', run: wrk };
    if (wanted === 'wrk') return { name: 'none', note: 'wrk not installed (apt-get install -y wrk)' };
  }
  if (AUTOCANNON) return { name: 'autocannon', run: autocannon };
  return { name: 'none', note: 'neither wrk nor autocannon found (apt-get install -y wrk, or npm install)' };
}

function round2(x) {
  return x === undefined || x === null || Number.isNaN(x) ? null : Math.round(x * 100) / 100;
}

function lastLines(text, n = 3) {
  return String(text).trim().split('\n').slice(-n).join(' | ').slice(0, 400);
}

module.exports = { ab, wrk, autocannon, pickTool2, round2 };
