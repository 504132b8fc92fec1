#!/usr/bin/env node
// Runs the test suite (`npm test`: build the addon and the TypeScript, then vitest) under other
// Node.js versions, one after another, each with the addon built against that version's own headers,
// and prints one line per version (tests passed/failed/skipped, minutes). Unless the last version is
// `current`, it then rebuilds the addon for the Node that runs this script, so the checkout is left working.
//
//   npm run test:node -- 22 24 26        official builds, fetched once (scripts/fetch-node.js)
//   npm run test:node -- current 24      `current` is the Node running this script
//   npm run test:node -- 24 22:core      `:core` runs only the tests that depend on the Node version (CORE)
//   npm run test:node -- current:fork    `:fork` only the fork and the fork contract (FORK: for Node 20, end of life)
//
// Exit code 1 if any version failed. The CI matrix (.ci/run) is the whole suite on Node 24, the core
// on 22 and 26, and the fork part on the machine's Node (20, end of life).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/**
 * The tests whose outcome depends on the Node version: forking (V8's and libuv's threads and state
 * differ per version), the fork contract with the app's own threads, connections and threadpool
 * work, the tutorial's forking stages, the pre-fork master and its workers, and the gateway over
 * each version's node:http (the framework matrix, WebSockets taken over from it, signals). The rest (the CLI, logs, deployment, the status
 * page, the HTTP parser, the package) is the same JavaScript on every version and runs once.
 */
const CORE = [
  'test/native/',
  'test/hazards/',
  'test/server/stages.test.ts',
  'test/server/long-lived-children.test.ts',
  'test/server/child-process.test.ts',
  'test/server/app-work.test.ts',
  'test/prefork/forkserve.test.ts',
  'test/gateway/matrix.test.ts',
  'test/gateway/server.test.ts',
  'test/server/orderly-stop.test.ts',
];

/**
 * For an end-of-life Node (20): the fork itself and the fork contract (V8's and libuv's threads and
 * state, the app's threads, connections and threadpool work, a forked child's cost over a minute).
 */
const FORK = ['test/native/', 'test/hazards/', 'test/server/long-lived-children.test.ts'];

const PARTS = { core: CORE, fork: FORK };

const runs = process.argv.slice(2).map((arg) => {
  const [version, part] = arg.split(':');
  return { version, part, ok: (version === 'current' || /^\d+$/.test(version)) && (part === undefined || Object.hasOwn(PARTS, part)) };
});
if (runs.length === 0 || runs.some((r) => !r.ok)) {
  process.stderr.write('usage: node scripts/test-node.js <major|current>[:core|:fork]...\n');
  process.exit(2);
}

function nodeDir(version) {
  if (version === 'current') return null;
  const r = spawnSync(process.execPath, [path.join(__dirname, 'fetch-node.js'), version], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`could not fetch Node ${version}`);
  return r.stdout.trim();
}

function envFor(dir) {
  if (dir === null) return { ...process.env };
  // npm and node-gyp take the Node on PATH; npm_config_nodedir makes node-gyp build against its headers.
  return { ...process.env, PATH: `${path.join(dir, 'bin')}${path.delimiter}${process.env.PATH}`, npm_config_nodedir: dir };
}

/**
 * Runs `npm test` with output passed through, keeping the tail to read vitest's summary from and
 * the failures (the FAIL line of each failed test and the first line of its error).
 */
function npmTest(env, files) {
  return new Promise((resolve) => {
    const proc = spawn('npm', ['test', ...(files.length ? ['--', ...files] : [])], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let partial = '';
    const failures = [];
    let wantError = false;
    const keep = (chunk, out) => {
      out.write(chunk);
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-20000);
      const lines = (partial + text).split('\n');
      partial = lines.pop();
      for (const raw of lines) {
        const line = raw.replace(/\x1b\[[0-9;]*m/g, '').trim();
        if (line.startsWith('FAIL ')) {
          failures.push(line);
          wantError = true;
        } else if (wantError && /^(\w*Error|Error)\b.*:/.test(line)) {
          failures.push(`  ${line.length > 900 ? `${line.slice(0, 900)} ...` : line}`);
          wantError = false;
        }
      }
    };
    proc.stdout.on('data', (c) => keep(c, process.stdout));
    proc.stderr.on('data', (c) => keep(c, process.stderr));
    proc.on('close', (code) => resolve({ code, tail, failures }));
  });
}

function count(tail, word) {
  // vitest: "      Tests  185 passed | 2 skipped (187)" (with colour codes when a TTY)
  const line = tail.replace(/\x1b\[[0-9;]*m/g, '').split('\n').find((l) => /^\s*Tests\s/.test(l)) ?? '';
  const m = new RegExp(`(\\d+) ${word}`).exec(line);
  return m ? Number(m[1]) : 0;
}

(async () => {
  const results = [];
  for (const { version, part } of runs) {
    let dir;
    try {
      dir = nodeDir(version);
    } catch (err) {
      results.push({ version, node: '?', ok: false, note: err.message });
      continue;
    }
    const env = envFor(dir);
    const node = spawnSync('node', ['--version'], { env, encoding: 'utf8' }).stdout.trim();
    process.stdout.write(`\n=== npm test${part ? ` (${part})` : ''} on Node ${node} (${dir ?? 'current'}) ===\n`);
    const t0 = Date.now();
    const { code, tail, failures } = await npmTest(env, part ? PARTS[part] : []);
    results.push({
      version,
      node: part ? `${node} ${part}` : node,
      ok: code === 0,
      passed: count(tail, 'passed'),
      failed: count(tail, 'failed'),
      skipped: count(tail, 'skipped'),
      minutes: (Date.now() - t0) / 60000,
      failures,
    });
  }
  if (runs.at(-1).version !== 'current') {
    process.stdout.write('\n=== rebuilding the addon for the Node running this script ===\n');
    spawnSync('npm', ['run', 'build:native', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  }
  // The failures again, where the end of a long log shows them (CI keeps only its tail).
  for (const r of results.filter((x) => x.failures?.length)) {
    process.stdout.write(`\nFailed on Node ${r.node}:\n${r.failures.join('\n')}\n`);
  }
  process.stdout.write('\nNode            result  passed  failed  skipped  minutes\n');
  for (const r of results) {
    const cells = r.note
      ? [r.note]
      : [String(r.passed).padStart(6), String(r.failed).padStart(6), String(r.skipped).padStart(7), r.minutes.toFixed(1).padStart(7)];
    process.stdout.write(`${r.node.padEnd(15)} ${(r.ok ? 'ok' : 'FAILED').padEnd(6)}  ${cells.join('  ')}\n`);
  }
  process.exit(results.every((r) => r.ok) ? 0 : 1);
})();
