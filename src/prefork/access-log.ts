// The access log (gunicorn's --access-logfile and --access-logformat): a line per request a worker
// answered, and per error the connection answered by itself (400, 408, 413 ...: gunicorn logs the
// ones that have a request; here a request with no head yet shows '-' in its request fields). The
// format is gunicorn's: Python's %(name)s with these atoms (unknown ones print '-', as gunicorn's):
//
//   h remote address (a trusted proxy's client: --forwarded-allow-ips)   l '-'   u Basic auth user or '-'
//   t [27/Nov/2026:23:55:36 +0000] (local time, when the line is made)    r "GET /path?q HTTP/1.1"
//   m method   U path without the query   q query string (without '?')   H protocol (HTTP/1.1)
//   s status   B response body bytes   b the same, '-' for 0   f Referer   a User-Agent
//   T seconds (integer)   D microseconds   M milliseconds   L seconds, decimal   p <pid> of the worker
//   {name}i a request header   {name}o a response header as the app set it (not Date, Server ...)
//
// Missing and empty values print '-'; `"`, `\` and control characters in values are escaped (\", \\,
// \xNN) so that a line stays one line and its quoted fields stay quoted. Status and body bytes are
// what went out (gateway/outcome.ts): the status of the head written, body bytes without the head
// or chunked framing, 0 for HEAD/204/304; '-' for a request the client left before any answer.
//
// Lines from every worker share one file without interleaving: each worker writes whole lines,
// those of one event-loop turn in one write() to a descriptor opened with O_APPEND (the kernel puts
// each write() at the end in one piece). To stdout ('-'), a pipe shared with the master and the
// other workers, a turn's lines go out in pieces cut at line ends of at most PIPE_BUF bytes, which a
// pipe takes whole or not at all (EAGAIN is waited out with poll(), as src/server/log.ts does).
// SIGUSR1 (logrotate): the master opens the file anew (workers forked later inherit the new one) and
// passes the signal on; each worker writes out what it holds, opens the path, swaps, closes the old.

import * as fs from 'node:fs';
import type { RequestOutcome } from '../gateway';
import { hasReader, plural, takesWrite, warn, writeFully } from '../server/log';

export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** What a line is made of: a request's outcome, or anything shaped like one (tests). */
export type AccessEntry = Pick<RequestOutcome, 'head' | 'remoteAddress' | 'status' | 'bodyBytes' | 'durationMs' | 'responseHeader'>;

/** A bad --access-log or --access-log-format: one line, exit 1. */
export class AccessLogError extends Error {
  readonly code = 'ERR_FORKSERVE_ACCESS_LOG';
}

/** Writes larger than this are not atomic on a pipe (POSIX's minimum PIPE_BUF, Linux's and macOS's value too). */
const PIPE_BUF = 4096;
const NEWLINE = Buffer.from('\n');
/** A turn that has gathered this much writes it out at once instead of at the end of the turn. */
const FLUSH_AT_CHARS = 64 * 1024;

// --- the format ------------------------------------------------------------------------------

type Atom = (e: AccessEntry) => string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// (C1 controls and the Unicode line and paragraph separators too: some log viewers break lines there)
const UNSAFE_RE = /["\\\x00-\x1f\x7f-\x9f\u2028\u2029]/;
const UNSAFE_ALL_RE = /["\\\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

let clfSecond = -1;
let clfText = '';

/** `[27/Nov/2026:23:55:36 +0000]` in local time (gunicorn's strftime('[%d/%b/%Y:%H:%M:%S %z]')), made once per second. */
export function clfTime(nowMs = Date.now()): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== clfSecond) {
    const d = new Date(second * 1000);
    const offset = -d.getTimezoneOffset();
    const abs = Math.abs(offset);
    const zone = `${offset < 0 ? '-' : '+'}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
    clfText = `[${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zone}]`;
    clfSecond = second;
  }
  return clfText;
}

/** A value as it may appear in a line: '-' when missing or empty, escaped when it holds `"`, `\` or control characters. */
function safe(value: string | undefined): string {
  if (value === undefined || value === '') return '-';
  if (!UNSAFE_RE.test(value)) return value;
  return value.replace(UNSAFE_ALL_RE, (c) => {
    if (c === '"') return '\\"';
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

function requestHeader(e: AccessEntry, lowerName: string): string | undefined {
  return e.head?.fields.get(lowerName)?.join(', ');
}

/** The path of the request-target, without the query (and without scheme and host for absolute-form). */
function targetPath(target: string): string {
  const q = target.indexOf('?');
  let path = q < 0 ? target : target.slice(0, q);
  if (/^https?:\/\//i.test(path)) {
    const slash = path.indexOf('/', path.indexOf('//') + 2);
    path = slash < 0 ? '/' : path.slice(slash);
  }
  return path;
}

/** The user of `Authorization: Basic ...` (gunicorn's %(u)s), or undefined. */
function basicUser(e: AccessEntry): string | undefined {
  const auth = requestHeader(e, 'authorization');
  const m = auth === undefined ? null : /^basic\s+(\S+)/i.exec(auth);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon);
}

const ATOMS: Record<string, Atom> = {
  h: (e) => safe(e.remoteAddress),
  l: () => '-',
  u: (e) => safe(basicUser(e)),
  t: () => clfTime(),
  r: (e) => (e.head ? safe(`${e.head.method} ${e.head.target} HTTP/${e.head.versionMajor}.${e.head.versionMinor}`) : '-'),
  m: (e) => safe(e.head?.method),
  U: (e) => safe(e.head ? targetPath(e.head.target) : undefined),
  q: (e) => {
    const target = e.head?.target;
    const q = target === undefined ? -1 : target.indexOf('?');
    return q < 0 ? '-' : safe(target!.slice(q + 1));
  },
  H: (e) => (e.head ? `HTTP/${e.head.versionMajor}.${e.head.versionMinor}` : '-'),
  s: (e) => (e.status > 0 ? String(e.status) : '-'),
  B: (e) => String(e.bodyBytes),
  b: (e) => (e.bodyBytes > 0 ? String(e.bodyBytes) : '-'),
  f: (e) => safe(requestHeader(e, 'referer')),
  a: (e) => safe(requestHeader(e, 'user-agent')),
  T: (e) => String(Math.floor(e.durationMs / 1000)),
  D: (e) => String(Math.floor(e.durationMs * 1000)),
  M: (e) => String(Math.floor(e.durationMs)),
  L: (e) => (e.durationMs / 1000).toFixed(6),
  p: () => `<${process.pid}>`,
};

const MISSING: Atom = () => '-';

/** The atom for a key of the format: one of ATOMS, `{name}i`, `{name}o`, or '-' for any other (gunicorn). */
function atomFor(key: string): Atom {
  if (Object.hasOwn(ATOMS, key)) return ATOMS[key];
  // gunicorn looks up {...} keys in lower case: %({X-Request-Id}i)s works.
  const m = /^\{([^}]+)\}([io])$/.exec(key.toLowerCase());
  if (!m) return MISSING;
  const name = m[1];
  return m[2] === 'i' ? (e) => safe(requestHeader(e, name)) : (e) => safe(e.responseHeader(name));
}

/** %(key)s with Python's optional flags, width and precision: %(s)-5s, %(D)08d ... */
function converted(atom: Atom, flags: string, width: number, precision: number | undefined, type: string): Atom {
  if (flags === '' && width === 0 && precision === undefined) return atom;
  return (e) => {
    let v = atom(e);
    if (precision !== undefined && type === 's') v = v.slice(0, precision);
    if (v.length >= width) return v;
    if (flags.includes('-')) return v.padEnd(width);
    if (flags.includes('0') && type !== 's' && /^\d+$/.test(v)) return v.padStart(width, '0');
    return v.padStart(width);
  };
}

/**
 * Compiles a gunicorn access log format into a function that makes a line (without its newline).
 * Throws AccessLogError for what Python's % operator would refuse: a '%' not followed by '%' or
 * '(key)' and a conversion s, d or i.
 */
export function compileAccessLogFormat(format: string): (e: AccessEntry) => string {
  const parts: (string | Atom)[] = [];
  let literal = '';
  const spec = /%(?:(%)|\(([^)]*)\)([-0 +#]*)(\d*)(?:\.(\d+))?([sdi]))/y;
  for (let i = 0; i < format.length; ) {
    const at = format.indexOf('%', i);
    if (at < 0) {
      literal += format.slice(i);
      break;
    }
    literal += format.slice(i, at);
    spec.lastIndex = at;
    const m = spec.exec(format);
    if (!m) {
      throw new AccessLogError(
        `--access-log-format: unsupported '${format.slice(at, at + 12)}' at character ${at + 1} (atoms are written %(name)s, a percent sign %%)`,
      );
    }
    i = spec.lastIndex;
    if (m[1]) {
      literal += '%';
      continue;
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push(converted(atomFor(m[2]), m[3], Number(m[4] || 0), m[5] === undefined ? undefined : Number(m[5]), m[6]));
  }
  if (literal) parts.push(literal);
  return (e) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : part(e);
    return line;
  };
}

// --- the writer ------------------------------------------------------------------------------

function openAppend(path: string): number {
  // O_APPEND: every write() lands at the end in one piece, whoever else appends. (libuv adds O_CLOEXEC.)
  return fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o644);
}

export class AccessLog {
  private pending = '';
  private scheduled = false;
  /** The errno of the writes that fail, '' while they go through. */
  private failure = '';
  /** Lines dropped since they began to fail. */
  private lost = 0;
  /** The last write stopped in the middle of a line: the file ends with part of one. */
  private cutShort = false;
  private readonly line: (e: AccessEntry) => string;
  private readonly flushSoon = (): void => {
    this.scheduled = false;
    this.flush();
  };

  private constructor(
    /** A file's path, or '-' for stdout. */
    readonly target: string,
    private fd: number,
    format: string,
  ) {
    this.line = compileAccessLogFormat(format);
  }

  /** Checks the format and opens the file (in the master, before the first fork: workers inherit it). */
  static open(target: string, format = DEFAULT_ACCESS_LOG_FORMAT): AccessLog {
    compileAccessLogFormat(format);
    if (target === '-') return new AccessLog(target, 1, format);
    let fd: number;
    try {
      fd = openAppend(target);
    } catch (err) {
      throw new AccessLogError(`--access-log ${target}: ${(err as Error).message}`);
    }
    return new AccessLog(target, fd, format);
  }

  /** Adds the line for `entry`; it is written at the end of this event-loop turn with the turn's other lines. */
  log(entry: AccessEntry): void {
    this.pending += `${this.line(entry)}\n`;
    if (this.pending.length >= FLUSH_AT_CHARS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  /** Writes out the lines held (a worker calls it before it exits: _exit() would lose them). */
  flush(): void {
    if (this.pending === '') return;
    const bytes = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    // A file takes a turn's lines in one write(); a pipe (stdout, a FIFO given as the path) in
    // pieces it takes whole, each checked for room (server/log.ts).
    if (this.target !== '-' && !hasReader(this.fd)) {
      this.writeAll(bytes, 0, bytes.length);
      return;
    }
    for (let start = 0; start < bytes.length; ) {
      let end = Math.min(start + PIPE_BUF, bytes.length);
      if (end < bytes.length) {
        const cut = bytes.lastIndexOf(0x0a, end - 1);
        // A single line longer than PIPE_BUF goes out whole, in one write() (a pipe may split that one).
        end = cut >= start ? cut + 1 : bytes.indexOf(0x0a, end) + 1;
      }
      this.writeAll(bytes, start, end);
      start = end;
    }
  }

  /** SIGUSR1: lines held go to the old file; then the path is opened anew (logrotate moved the old one) and replaces it. */
  reopen(): void {
    if (this.target === '-') return;
    this.flush();
    let fd: number;
    try {
      fd = openAppend(this.target);
    } catch (err) {
      warn(`Access log: cannot reopen ${this.target} (${(err as Error).message}); still writing to the file it had`);
      return;
    }
    const old = this.fd;
    this.fd = fd;
    try {
      fs.closeSync(old);
    } catch {
      /* already closed */
    }
  }

  /**
   * EPIPE (nobody reads stdout any more), ENOSPC, EIO ...: the lines are dropped, said when it begins
   * (and when the cause changes), counted, and said again once a write goes through. A line the
   * error cut short is ended with a newline before the next, so that one stays whole.
   */
  private writeAll(bytes: Buffer, start: number, end: number): void {
    if (!takesWrite(this.fd)) return; // a stdout nobody reads: dropped, counted (server/log.ts)
    let err = this.cutShort ? writeFully(this.fd, NEWLINE) : undefined;
    if (err) err.written = 0; // (none of these bytes went out)
    else {
      this.cutShort = false;
      err = writeFully(this.fd, bytes, start, end);
    }
    const where = this.target === '-' ? 'on stdout' : this.target;
    if (!err) {
      if (this.failure === '') return;
      warn(`Access log ${where}: writing again after ${this.failure} (${plural(this.lost, 'line', 'lines')} dropped)`);
      this.failure = '';
      this.lost = 0;
      return;
    }
    for (let i = start + err.written; i < end; i++) if (bytes[i] === 0x0a) this.lost++;
    if (err.written > 0) this.cutShort = bytes[start + err.written - 1] !== 0x0a;
    const code = err.code ?? String(err);
    if (this.failure !== code) warn(`Access log ${where}: write ${code}; dropping lines until a write goes through`);
    this.failure = code;
  }
}
