// The app's own work still under way when a forked child or worker has served its last connection
// (issue 27): a timer, a file write, a DNS lookup, an outgoing request the app started after its
// response (Next.js after(), a log flush, an analytics call). Before, a concurrent-final child
// _exit()ed as soon as its connection closed and a worker at TERM or --max-requests as soon as its
// last one did, and that work was lost (a winston line in 60 requests, in a test).
//
// Counted as Node counts what keeps a process alive (process.getActiveResourcesInfo(): requests in
// flight, ref'd handles, ref'd timers and immediates), beyond what the process had when it began
// (its parent's timers and connections, inherited: not this process's work). Unref'd timers and
// handles do not count, so the check's own timer does not, and neither do idle keep-alive sockets
// of fetch/undici and http.Agent (both unref them). A connection the app opened after the fork and
// keeps (a database or Redis client) may be an idle client or a request waiting for its answer: it
// is waited for CONNECTION_WAIT_MS at most, then the process leaves without a word; timers and
// requests in flight are waited for up to the limit, and then said; work on the libuv threadpool,
// which Node does not list (zlib, crypto's async functions, an addon's async work), is counted from
// libuv's own count of requests in flight (ThreadPoolWork).

import { loopRequests } from '../posix';

/** Kinds of live resources and how many of each ("Timeout" → 2, "FSReqCallback" → 1 ...). */
export type Resources = ReadonlyMap<string, number>;

export function countResources(names: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/** Request kinds Node lists (libuv requests: fs, DNS, stream writes, connects, UDP sends). */
const LISTED_REQUEST = /Req|^(Write|Shutdown|TCPConnect|PipeConnect|Send)Wrap$/;

/**
 * What keeps this process alive now: what Node lists, and as ThreadPoolWork the libuv requests it
 * does not (jobs on the threadpool: zlib, crypto's async functions, an addon's async work).
 */
export function resourcesNow(): Map<string, number> {
  const names = process.getActiveResourcesInfo();
  const counts = countResources(names);
  let listed = 0;
  for (const name of names) if (LISTED_REQUEST.test(name)) listed++;
  const unlisted = loopRequests() - listed;
  if (unlisted > 0) counts.set('ThreadPoolWork', unlisted);
  return counts;
}

/** What `now` has beyond `base`, as "2 × Timeout" parts (empty: nothing more than at the start). */
export function beyond(now: Resources, base: Resources): string[] {
  const more: string[] = [];
  for (const [name, n] of now) {
    const extra = n - (base.get(name) ?? 0);
    if (extra > 0) more.push(`${extra} × ${name}`);
  }
  return more;
}

/** How often the check looks again, at most (it starts at once, then backs off to this). */
const CHECK_MAX_MS = 50;
/** How long connections the app opened (and nothing else) are waited for. */
export const CONNECTION_WAIT_MS = 2000;
const CONNECTION = /^(TCPSocketWrap|TCPWrap|PipeWrap|TLSWrap|UDPWrap|UDPWRAP|Http2Session|HTTP2SESSION)$/;

/** Only connections are left ("1 × TCPSocketWrap"): an idle client, most likely. */
export function onlyConnections(left: readonly string[]): boolean {
  return left.every((part) => CONNECTION.test(part.slice(part.indexOf('× ') + 2)));
}

/**
 * Calls `done([])` once the app's work beyond `base` is finished, or `done(left)` with what was
 * still under way after `limitMs` (timers, requests); when only connections are left, `done([])`
 * after CONNECTION_WAIT_MS. The first look is on the next turn of the event loop (what the
 * connection's close queued is over by then); the checks run on an unref'd timer.
 */
export function afterAppWork(base: Resources, limitMs: number, done: (left: string[]) => void): void {
  const started = Date.now();
  const deadline = started + limitMs;
  let wait = 1;
  const check = (): void => {
    const left = beyond(resourcesNow(), base);
    if (left.length === 0) return done(left);
    if (onlyConnections(left) && Date.now() >= Math.min(deadline, started + CONNECTION_WAIT_MS)) return done([]);
    if (Date.now() >= deadline) return done(left);
    setTimeout(check, wait).unref();
    wait = Math.min(CHECK_MAX_MS, wait * 2);
  };
  setTimeout(check, 0).unref();
}
