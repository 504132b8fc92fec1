// The start-up advice about frameworks the app loaded, in-process: found from their modules in
// require.cache (faked here by path; the real packages are tested in test/frameworks and
// test/gateway/server.test.ts).
import Module from 'node:module';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nextForkPerConnectionAdvice, nextMemoryCacheEntries, socketIoAdvice } from '../../src/server/framework-advice';

const faked: string[] = [];
function fakeLoaded(file: string, exports: unknown): void {
  const mod = new Module(file);
  mod.exports = exports;
  require.cache[file] = mod;
  faked.push(file);
}
afterEach(() => {
  for (const file of faked.splice(0)) delete require.cache[file];
});

const NEXT_CACHE = path.join('/app', 'node_modules', 'next', 'dist', 'server', 'lib', 'incremental-cache', 'file-system-cache.js');

describe('Next.js: its in-memory cache before a fork per connection', () => {
  it('nothing without Next, or with no memory cache (cacheMaxMemorySize: 0), or an empty one', () => {
    expect(nextMemoryCacheEntries()).toBe(0);
    fakeLoaded(NEXT_CACHE, { default: {} });
    expect(nextForkPerConnectionAdvice()).toBeUndefined();
    (require.cache[NEXT_CACHE]!.exports as { default: { memoryCache?: unknown } }).default.memoryCache = { size: 0 };
    expect(nextForkPerConnectionAdvice()).toBeUndefined();
  });

  it('entries (a warm-up rendered pages): one line with the count and the fix', () => {
    fakeLoaded(NEXT_CACHE, { default: { memoryCache: { size: 3 } } });
    expect(nextMemoryCacheEntries()).toBe(3);
    expect(nextForkPerConnectionAdvice()).toMatch(/^warning: Next\.js holds 3 pages or fetches in this process's memory after the warm-up: .* Set cacheMaxMemorySize: 0 in next\.config\.js/);
  });
});

describe('socket.io with several workers', () => {
  it('said with more than one worker once engine.io is loaded', () => {
    expect(socketIoAdvice(4)).toBeUndefined();
    fakeLoaded(path.join('/app', 'node_modules', 'engine.io', 'build', 'server.js'), {});
    expect(socketIoAdvice(1)).toBeUndefined();
    expect(socketIoAdvice(4)).toMatch(/^warning: socket\.io \(engine\.io\) with 4 workers: /);
  });
});
