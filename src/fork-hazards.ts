// What an app brings to a fork that forkserve cannot carry into the child, put in words for the
// one line a server prints (issue 25). Pure functions: posix.ts gathers the facts (native/inherited.cc
// and native/fork.cc), the servers add the fix that fits them.

import type { ForeignThread } from './native-types';

/** Who starts threads of these names (as /proc/<pid>/task/<tid>/comm shows them, 15 bytes at most). */
const KNOWN_THREADS: { name: RegExp; what: string }[] = [
  { name: /^(libvips|vips)/, what: "sharp's libvips, which ends idle ones ~15 s after its last image" },
  { name: /^WorkerThread$/, what: 'a worker_threads Worker' },
  { name: /^pino/, what: 'a pino transport (a worker_threads Worker)' },
  { name: /^grpc/, what: 'grpc' },
];

/**
 * "3 × 'libvips worker' (sharp's libvips …), 1 × 'node'". Threads of one name are counted
 * together; `workers` is how many worker_threads Workers the process runs (Node 20 names their
 * threads "node", like its own).
 */
export function describeThreads(threads: readonly ForeignThread[], workers = 0): string {
  const counts = new Map<string, number>();
  for (const t of threads) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  const parts = [...counts].map(([name, n]) => {
    const known = KNOWN_THREADS.find((k) => k.name.test(name));
    return `${n} × '${name}'${known ? ` (${known.what})` : ''}`;
  });
  const running = workers === 1 ? 'a worker_threads Worker runs' : `${workers} worker_threads Workers run`;
  return parts.join(', ') + (workers > 0 ? ` (${running}: new Worker(), piscina, a pino transport)` : '');
}

/**
 * What esbuild's synchronous API does (tsx compiles TypeScript with it): it keeps a Worker to
 * compile in, which a child would wait on forever; with ESBUILD_WORKER_THREADS=0 it runs its
 * binary per call instead (read when esbuild loads, so it must be in the environment at start).
 */
const ESBUILD_FIX = 'if it is tsx compiling TypeScript (esbuild keeps a Worker for that), start with ESBUILD_WORKER_THREADS=0 in the environment or compile ahead of time; else ';

/**
 * The one line for threads a fork refused: what they are, why it matters, and `fix`. `esbuild`:
 * esbuild is loaded, and with worker_threads enabled (see ESBUILD_FIX).
 */
export function threadsMessage(threads: readonly ForeignThread[], workers: number, fix: string, esbuild = false): string {
  const one = threads.length === 1;
  return (
    `fork: the app started ${one ? 'a thread' : `${threads.length} threads`} before the fork, which a forked process would not have ` +
    `(${one ? 'its' : 'their'} locks and queues would be copied, not ${one ? 'the thread' : 'the threads'}: requests would hang): ` +
    `${describeThreads(threads, workers)}; ${esbuild && workers > 0 ? ESBUILD_FIX : ''}${fix}`
  );
}

export interface BarrierTimeout {
  v8Posted: number;
  v8Parked: number;
  threadpoolPosted: number;
  threadpoolParked: number;
}

/** "libuv's threadpool is busy (1 of 4 threads in a job for 2 s)", or V8's workers. */
export function describeBusy(t: BarrierTimeout, waitedMs: number): string {
  const seconds = `${+(waitedMs / 1000).toFixed(1)} s`;
  const parts: string[] = [];
  const uvBusy = t.threadpoolPosted - t.threadpoolParked;
  const v8Busy = t.v8Posted - t.v8Parked;
  if (uvBusy > 0) parts.push(`libuv's threadpool is busy (${uvBusy} of ${t.threadpoolPosted} threads still in a job after ${seconds}: fs, dns.lookup, crypto, zlib)`);
  if (v8Busy > 0) parts.push(`${v8Busy} of V8's ${t.v8Posted} worker threads did not pause within ${seconds}`);
  return parts.length > 0 ? parts.join('; ') : `the threads did not pause within ${seconds}`;
}

/** "let go of 2 connections inherited from the master: 127.0.0.1:5432, unix:/run/redis.sock". */
export function describeInheritedConnections(peers: readonly string[], from: string): string {
  const n = peers.length;
  const one = n === 1;
  return (
    `let go of ${one ? 'a connection' : `${n} connections`} inherited from ${from} ` +
    `(${one ? 'it reads' : 'they read'} end-of-file here; ${from}'s own ${one ? 'is' : 'are'} untouched): ${peers.join(', ')}`
  );
}

/**
 * The one line for SQLite databases open at the fork. SQLite's own rule (sqlite.org/howtocorrupt.html,
 * 2.6): a connection must not be carried across fork(); its locks belong to the process that took
 * them, so parent and children would each believe they hold them, and the file can be corrupted.
 */
export function sqliteMessage(files: readonly string[], fix: string): string {
  const one = files.length === 1;
  return (
    `fork: the app opened ${one ? 'an SQLite database' : `${files.length} SQLite databases`} before the fork (${files.join(', ')}); ` +
    `SQLite forbids using a connection across fork() (its file locks belong to one process: writes from several could corrupt the file); ` +
    `${fix} (FORKSERVE_SQLITE_FORK=1 forks anyway, for a read-only file nobody writes)`
  );
}
