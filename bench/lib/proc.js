// Process helpers for the benchmark suite (Linux: reads /proc). The suite itself never forks with
// forkserve's fork(), so it may use child_process freely: it spawns servers and load tools, reads
// their state from /proc, and stops them by PID (the server first, then whatever it left behind).
//
//   run(cmd, args, { timeoutMs })        -> { code, signal, stdout, stderr, timedOut, ms }
//   startServer(spec, { timeoutMs })     -> { proc, pid, port }  (port from "Serving HTTP on port N";
//                                           spec.detached: in its own process group)
//   stopServer(server, { graceMs })      -> { graceful, killed: [pids], leftovers: [pids] }
//                                           (a detached server: the signals go to its group)
//   children(pid) / descendants(pid)     -> [{ pid, stat }] from `ps -o pid=,stat= --ppid <pid>`
//   snapshot(pid)                        -> zombies, live children, fds, RSS, CPU ticks
//   rollup(pid)                          -> /proc/<pid>/smaps_rollup in kB
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every process the suite started and has not yet seen exit: killed by PID on SIGINT or a crash.
const live = new Map(); // pid -> { name, proc }

function track(proc, name, detached = false) {
  live.set(proc.pid, { name, proc, detached });
  proc.once('exit', () => live.delete(proc.pid));
}

function tryKill(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Kills every process the suite still owns, and their descendants, by PID (SIGKILL). */
function killAll() {
  for (const [pid, { detached }] of live) {
    const tree = descendants(pid).map((c) => c.pid);
    if (detached) tryKill(-pid, 'SIGKILL');
    tryKill(pid, 'SIGKILL');
    for (const c of tree) tryKill(c, 'SIGKILL');
  }
}

/** Runs a command to completion (or until timeoutMs: SIGKILL by PID). Never rejects. */
function run(cmd, args, { timeoutMs = 60_000, cwd, env, maxOutput = 4 << 20 } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let proc;
    try {
      proc = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ code: null, signal: null, stdout: '', stderr: String(err), timedOut: false, ms: 0, error: err });
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    proc.stdout.on('data', (d) => { if (stdout.length < maxOutput) stdout += d; });
    proc.stderr.on('data', (d) => { if (stderr.length < maxOutput) stderr += d; });
    proc.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err), timedOut, ms: Date.now() - t0, error: err });
    });
    if (proc.pid) track(proc, cmd);
    const timer = setTimeout(() => {
      timedOut = true;
      tryKill(proc.pid, 'SIGKILL');
    }, timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - t0 });
    });
  });
}

/** True when `cmd` is found on PATH (or is an absolute path that exists). */
function which(cmd) {
  if (cmd.includes('/')) return fs.existsSync(cmd);
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '';
}

/**
 * Starts a server and resolves when its first stdout line says "Serving HTTP on port N".
 * spec: { name, cmd, args, cwd, env, workers, detached } (workers: wait until that many children
 * exist; detached: the server leads its own process group, which its forked children share, so that
 * stopServer can signal them all at once).
 */
function startServer(spec, { timeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(spec.cmd, spec.args, { cwd: spec.cwd, env: spec.env || process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: !!spec.detached });
    if (proc.pid) track(proc, spec.name, !!spec.detached);
    let out = '';
    let err = '';
    let done = false;
    const fail = (why) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const tree = proc.pid ? descendants(proc.pid).map((c) => c.pid) : [];
      if (proc.pid && spec.detached) tryKill(-proc.pid, 'SIGKILL');
      if (proc.pid) tryKill(proc.pid, 'SIGKILL');
      for (const pid of tree) tryKill(pid, 'SIGKILL');
      reject(new Error(`${spec.name}: ${why}${err ? `\n  stderr: ${err.trim().split('\n').slice(-5).join('\n  ')}` : ''}`));
    };
    const timer = setTimeout(() => fail(`no "Serving HTTP on port" line within ${timeoutMs} ms`), timeoutMs);
    proc.on('error', (e) => fail(String(e)));
    const onEarlyExit = (code, signal) => fail(`exited early (code ${code}, signal ${signal})`);
    proc.on('exit', onEarlyExit);
    proc.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    proc.stdout.on('data', async (d) => {
      if (done) return;
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const first = out.slice(0, nl);
      const m = /^Serving HTTP on port (\d+)/.exec(first);
      if (!m) return fail(`first stdout line is not the serving line: ${JSON.stringify(first.slice(0, 200))}`);
      // Pre-fork servers (gunicorn, cluster): wait for their workers.
      if (spec.workers) {
        const until = Date.now() + timeoutMs;
        while (children(proc.pid).filter((c) => !c.stat.startsWith('Z')).length < spec.workers && Date.now() < until) await sleep(50);
      }
      if (done) return;
      done = true;
      clearTimeout(timer);
      proc.off('exit', onEarlyExit);
      proc.stdout.on('data', () => {}); // keep draining: a full pipe would block the server
      resolve({ spec, proc, pid: proc.pid, port: Number(m[1]), stderrTail: () => err });
    });
  });
}

/**
 * Stops a server by PID: SIGTERM, up to graceMs for it to exit, then SIGKILL; then SIGKILL for
 * every descendant seen before the stop that is still there. A detached server (spec.detached) gets
 * the SIGTERM and SIGKILL as a process group, and a last SIGKILL to the group after it has exited.
 * Returns what it had to kill.
 */
async function stopServer(server, { graceMs = 3000 } = {}) {
  const { proc, pid } = server;
  const group = !!(server.spec && server.spec.detached);
  const target = group ? -pid : pid;
  const tree = descendants(pid).map((c) => c.pid);
  const exited = new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', r)));
  tryKill(target, 'SIGTERM');
  const graceful = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!graceful) {
    tryKill(target, 'SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  }
  await sleep(100);
  if (group) tryKill(-pid, 'SIGKILL'); // whatever of the group outlived its leader
  const killed = [];
  for (const c of tree) {
    if (alive(c) && tryKill(c, 'SIGKILL')) killed.push(c);
  }
  if (killed.length) await sleep(200);
  const leftovers = tree.filter(alive);
  return { graceful, killed, leftovers };
}

/** True when pid exists and is not a zombie (a zombie of an exited parent is reaped by init). */
function alive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Direct children of pid with their ps state letters (`ps -o pid=,stat= --ppid <pid>`). */
function children(pid) {
  const r = spawnSync('ps', ['-o', 'pid=,stat=', '--ppid', String(pid)], { encoding: 'utf8', timeout: 5000 });
  if (r.error || r.status === null) return childrenFromProc(pid);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => {
    const [p, stat] = l.trim().split(/\s+/);
    return { pid: Number(p), stat };
  });
}

function childrenFromProc(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === ppid) out.push({ pid: Number(d), stat: f[0] });
    } catch {}
  }
  return out;
}

/** Every descendant of pid (children, grandchildren ...). */
function descendants(pid) {
  const out = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of childrenFromProc(queue.shift())) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** utime, stime, cutime, cstime of pid in clock ticks (fields 14-17 of /proc/<pid>/stat). */
function cpuTicks(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
  } catch {
    return { utime: 0, stime: 0, cutime: 0, cstime: 0 };
  }
}

/**
 * CPU ticks a server has used: its own (self) and its children's (children): reaped ones through
 * cutime + cstime, unreaped ones (alive or zombie) by reading them, recursively. The difference of
 * two snapshots is the CPU a run cost; a child that is alive at the first and reaped by the second
 * moves from the live sum into cutime, so it is counted once.
 */
function cpuTree(pid) {
  const own = cpuTicks(pid);
  const total = (p) => {
    const t = cpuTicks(p);
    let sum = t.utime + t.stime + t.cutime + t.cstime;
    for (const c of childrenFromProc(p)) sum += total(c.pid);
    return sum;
  };
  let kids = own.cutime + own.cstime;
  for (const c of childrenFromProc(pid)) kids += total(c.pid);
  return { self: own.utime + own.stime, children: kids };
}

function status(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text) || [])[1] || 0);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), threads: kb('Threads') };
  } catch {
    return null;
  }
}

/** A server's state: zombies and live children (ps), open fds, RSS, threads. */
function snapshot(pid) {
  const kids = children(pid);
  let fds = null;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {}
  const st = status(pid) || {};
  return {
    zombies: kids.filter((c) => c.stat.startsWith('Z')).length,
    liveChildren: kids.filter((c) => !c.stat.startsWith('Z')).length,
    fds,
    rssKb: st.rssKb ?? null,
    threads: st.threads ?? null,
  };
}

/** /proc/<pid>/smaps_rollup: RSS, PSS, private dirty and friends, in kB (null if unreadable). */
function rollup(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const kb = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text) || [])[1] || 0);
  return {
    rssKb: kb('Rss'), pssKb: kb('Pss'), privateDirtyKb: kb('Private_Dirty'), privateCleanKb: kb('Private_Clean'),
    sharedDirtyKb: kb('Shared_Dirty'), sharedCleanKb: kb('Shared_Clean'), anonKb: kb('Anonymous'),
  };
}

module.exports = {
  sleep, run, which, startServer, stopServer, killAll, live, alive, children, childrenFromProc, descendants,
  cpuTicks, cpuTree, snapshot, rollup, status,
};
