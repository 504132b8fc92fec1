// Other Node.js builds for tests that need a second runtime (an addon built for one Node, run by
// another): the official builds that scripts/fetch-node.js keeps under the user's cache folder
// (.ci/run fetches 22, 24 and 26 before the tests; a missing one is fetched here, once).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './procs';

const CACHE = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'forkserve', 'nodes');

export interface NodeBuild {
  bin: string;
  version: string;
  /** NODE_MODULE_VERSION, the ABI an addon is built for. */
  abi: string;
}

function inspectNode(bin: string): NodeBuild {
  const [version, abi] = execFileSync(bin, ['-p', 'process.versions.node + " " + process.versions.modules'], { encoding: 'utf8' }).trim().split(' ');
  return { bin, version, abi };
}

/** A Node whose ABI differs from the one running the tests (fetched if none is cached). */
export function otherAbiNode(): NodeBuild {
  const cached = fs.existsSync(CACHE) ? fs.readdirSync(CACHE).map((d) => path.join(CACHE, d, 'bin', 'node')) : [];
  for (const bin of [...cached, '/usr/bin/node', '/usr/local/bin/node']) {
    if (!fs.existsSync(bin) || fs.realpathSync(bin) === fs.realpathSync(process.execPath)) continue;
    const build = inspectNode(bin);
    if (build.abi !== process.versions.modules) return build;
  }
  const major = process.versions.node.startsWith('22.') ? '24' : '22';
  const dir = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'fetch-node.js'), major], { encoding: 'utf8', timeout: 300_000 }).trim();
  return inspectNode(path.join(dir, 'bin', 'node'));
}
