// The addon uses node.h internals whose layout is fixed per ABI (NODE_MODULE_VERSION), and Node does
// not check that for Node-API modules: an addon built for one Node and loaded by another must refuse
// with one line (ERR_FORKSERVE_NODE_MISMATCH), not crash later. The build under test is for the Node
// running the tests; another Node (from scripts/fetch-node.js's cache) runs it.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { otherAbiNode } from '../helpers/nodes';
import { DIST, run } from '../helpers/procs';

describe('an addon built for another Node', () => {
  const other = otherAbiNode();
  const expected = new RegExp(
    `^node dist/concurrent-final\\.js: forkserve's native addon was built for Node ${process.versions.node.replace(/\./g, '\\.')} ` +
      `\\(ABI ${process.versions.modules}\\), running on Node ${other.version.replace(/\./g, '\\.')} \\(ABI ${other.abi}\\): run npm rebuild\\n$`,
  );

  it(`an entry run by Node ${other.version} prints one line and exits 1`, async () => {
    const r = await run('bash', ['-c', `cd "${path.dirname(DIST)}" && exec "${other.bin}" dist/concurrent-final.js --port 0`], 30_000);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(expected);
    expect(r.stdout).toBe(''); // refused before serving
  });

  it('require() from a library user throws an Error with the code', async () => {
    const script = `try { require(${JSON.stringify(path.join(DIST, 'posix.js'))}); console.log('loaded') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`;
    const r = await run(other.bin, ['-e', script], 30_000);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout) as { code: string; message: string };
    expect(e.code).toBe('ERR_FORKSERVE_NODE_MISMATCH');
    expect(e.message).toContain(`running on Node ${other.version} (ABI ${other.abi})`);
  });
});
