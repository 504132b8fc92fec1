// The words of fork()'s refusals and of what a child let go of (src/fork-hazards.ts): pure
// functions, tested in process.
import { describe, expect, it } from 'vitest';
import { describeBusy, describeInheritedConnections, describeThreads, threadsMessage, sqliteMessage } from '../../src/fork-hazards';

const t = (name: string, tid = 1) => ({ tid, name });

describe('describeThreads', () => {
  it('counts threads of one name together and names the library it knows', () => {
    expect(describeThreads([t('libvips worker', 1), t('libvips worker', 2), t('node', 3)])).toBe(
      "2 × 'libvips worker' (sharp's libvips, which ends idle ones ~15 s after its last image), 1 × 'node'",
    );
  });
  it("says when worker_threads Workers run (Node 20 names their threads 'node')", () => {
    expect(describeThreads([t('node')], 1)).toBe("1 × 'node' (a worker_threads Worker runs: new Worker(), piscina, a pino transport)");
    expect(describeThreads([t('WorkerThread'), t('pino/file')], 2)).toMatch(/^1 × 'WorkerThread' \(a worker_threads Worker\), 1 × 'pino\/file' \(a pino transport.*\(2 worker_threads Workers run: /);
  });
});

describe('threadsMessage', () => {
  it('one line: what, why, and the fix the server gives', () => {
    const m = threadsMessage([t('grpc_global_tim')], 0, 'start them in postFork');
    expect(m).toBe(
      "fork: the app started a thread before the fork, which a forked process would not have (its locks and queues would be copied, not the thread: requests would hang): 1 × 'grpc_global_tim' (grpc); start them in postFork",
    );
    expect(m).not.toContain('\n');
    expect(threadsMessage([t('a'), t('b')], 0, 'x')).toMatch(/^fork: the app started 2 threads before the fork, .*\(their locks and queues would be copied, not the threads/);
  });
});

describe('describeBusy', () => {
  it('names the threadpool threads still in a job, and V8 workers that did not pause', () => {
    expect(describeBusy({ v8Posted: 4, v8Parked: 4, threadpoolPosted: 4, threadpoolParked: 3 }, 2000)).toBe(
      "libuv's threadpool is busy (1 of 4 threads still in a job after 2 s: fs, dns.lookup, crypto, zlib)",
    );
    expect(describeBusy({ v8Posted: 4, v8Parked: 2, threadpoolPosted: 4, threadpoolParked: 4 }, 1500)).toBe("2 of V8's 4 worker threads did not pause within 1.5 s");
    expect(describeBusy({ v8Posted: 4, v8Parked: 4, threadpoolPosted: 4, threadpoolParked: 4 }, 2000)).toBe('the threads did not pause within 2 s');
  });
});

describe('describeInheritedConnections', () => {
  it('one connection or several, with their peers', () => {
    expect(describeInheritedConnections(['127.0.0.1:5432'], 'the master')).toBe(
      "let go of a connection inherited from the master (it reads end-of-file here; the master's own is untouched): 127.0.0.1:5432",
    );
    expect(describeInheritedConnections(['127.0.0.1:6379', 'unix:/run/pg.sock'], 'the parent')).toBe(
      "let go of 2 connections inherited from the parent (they read end-of-file here; the parent's own are untouched): 127.0.0.1:6379, unix:/run/pg.sock",
    );
  });
});

describe('sqliteMessage', () => {
  it('one database or several, the rule, the fix and the way out, on one line', () => {
    const one = sqliteMessage(['/srv/app.db'], 'open it in postFork');
    expect(one).toBe(
      'fork: the app opened an SQLite database before the fork (/srv/app.db); SQLite forbids using a connection across fork() ' +
        '(its file locks belong to one process: writes from several could corrupt the file); open it in postFork ' +
        '(FORKSERVE_SQLITE_FORK=1 forks anyway, for a read-only file nobody writes)',
    );
    expect(sqliteMessage(['/a.db', 'fd 9'], 'x')).toMatch(/^fork: the app opened 2 SQLite databases before the fork \(\/a\.db, fd 9\);/);
  });
});
