// Next's settings for this example, read by `next build` and again when the server prepares.
'use strict';
const path = require('node:path');

module.exports = {
  // The repository's root, where node_modules and the lockfile are (Turbopack looks for it).
  turbopack: { root: path.join(__dirname, '..', '..') },
  // No in-memory copy of the ISR cache: every process reads the cache on disk (.next/server/), which
  // the forked processes share. With Next's default (50 MB in memory), a page the forking parent
  // rendered before its forks (concurrent-final --warm-up /isr) stays in the memory every child
  // inherits: each child serves that copy (x-nextjs-cache: STALE), regenerates the page into its own
  // memory and the disk, and exits, so the page never changes. See examples/README.md.
  // (NEXT_CACHE_MAX_MEMORY_SIZE: the tests set Next's default, to see concurrent-final warn of it.)
  cacheMaxMemorySize: Number(process.env.NEXT_CACHE_MAX_MEMORY_SIZE ?? 0),
};
