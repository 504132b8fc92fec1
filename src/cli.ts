// Command-line plumbing shared by every entry in src/bin: flags in, usage out, and errors that a
// user caused (port in use, bad flag, missing file) printed as one line without a stack trace.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { isForkserveError, programName } from './entry';
import { PosixError } from './posix';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean | string[];
  /** May be given more than once: the value is an array. */
  multiple?: boolean;
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The options given on the command line (not defaulted). */
  given: Set<string>;
}

export interface CommandSpec {
  /** A subcommand (`status` in `forkserve status`): its arguments follow it; usage and errors name it. */
  command?: string;
  /** One-line summary shown at the top of --help. */
  summary: string;
  /** Extra usage text after the options (examples, what the stage teaches). */
  details?: string;
  /** Positional arguments, for the usage line, e.g. "[module:export]". */
  positionals?: string;
  options: Record<string, OptionSpec>;
  /** Help text per option name. */
  help: Record<string, string>;
}

export const SERVER_OPTIONS: Record<string, OptionSpec> = {
  host: { type: 'string', default: '' },
  // $PORT as platforms (Heroku, Cloud Run, Render ...) and gunicorn use it.
  port: { type: 'string', default: process.env.PORT || '8888' },
  help: { type: 'boolean', short: 'h', default: false },
};

export const SERVER_HELP = {
  host: 'address to listen on (default: all IPv4 interfaces)',
  port: 'port to listen on; 0 picks a free port (default: $PORT, else 8888)',
  help: 'show this help and exit',
};

/** The largest request body the servers that host apps accept by default (413 beyond). */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** --request-timeout's default: node:http's requestTimeout (300 s). */
export const REQUEST_TIMEOUT_SECONDS = 300;

/** --send-timeout's default: nginx's send_timeout, as gateway/fd-socket.ts's SEND_TIMEOUT_MS (which cli may not import). */
export const SEND_TIMEOUT_SECONDS = 60;

/** Options of the servers that host an app and fork (concurrent-final, forkserve). */
export function appOptions(headersTimeoutSeconds: number): Record<string, OptionSpec> {
  return {
    'headers-timeout': { type: 'string', default: String(headersTimeoutSeconds) },
    'request-timeout': { type: 'string', default: String(REQUEST_TIMEOUT_SECONDS) },
    'max-body': { type: 'string', default: String(MAX_BODY_BYTES) },
    'send-timeout': { type: 'string', default: String(SEND_TIMEOUT_SECONDS) },
    'no-server-header': { type: 'boolean', default: false },
    interface: { type: 'string' },
    'warm-up': { type: 'string', default: '' },
  };
}

export function appHelp(headersTimeoutSeconds: number): Record<string, string> {
  return {
    'headers-timeout': `seconds a request head may take to arrive, else 408 (default: ${headersTimeoutSeconds})`,
    'request-timeout': `seconds a whole request (head and body) may take to arrive, else 408\n` +
      `(node:http's requestTimeout; 0: no limit; default: ${REQUEST_TIMEOUT_SECONDS})`,
    'max-body': `largest request body in bytes, else 413 (default: ${MAX_BODY_BYTES})`,
    'no-server-header': "send no Server header (node:http sends none; the app's own is kept)",
    'send-timeout': `seconds a response may wait for a client that takes none of it, else the\n` +
      `connection is cut (nginx's send_timeout; 0: never; default: ${SEND_TIMEOUT_SECONDS})`,
    interface: 'with an app: node or fetch, how to call it, instead of detecting it',
    'warm-up': 'with an app: comma-separated paths to GET a few times before forking, so children\n' +
      'inherit the compiled code (routes without side effects only)',
  };
}

/** The --warm-up paths, checked. */
export function warmUpPaths(values: Parsed['values']): string[] {
  const paths = String(values['warm-up'] ?? '').split(',').filter(Boolean);
  for (const p of paths) if (!p.startsWith('/')) throw new UsageError(`invalid --warm-up path '${p}' (expected /...)`);
  return paths;
}

/** The program as the user typed it, and the subcommand if any: `forkserve status`. */
function commandName(command?: string): string {
  return command ? `${programName()} ${command}` : programName();
}

function usageLine(spec: CommandSpec): string {
  return `Usage: ${commandName(spec.command)} [options]${spec.positionals ? ` ${spec.positionals}` : ''}`;
}

function usage(spec: CommandSpec): string {
  const flags = Object.entries(spec.options).map(
    ([name, o]) => `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${name === 'port' ? 'n' : 'value'}>` : ''}`,
  );
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  const lines = [usageLine(spec), '', spec.summary, '', 'Options:'];
  // A description's further lines line up under its first.
  const indent = `\n${' '.repeat(width + 2)}`;
  for (const [i, name] of Object.keys(spec.options).entries()) lines.push(`  ${flags[i].padEnd(width)}${(spec.help[name] ?? '').split('\n').join(indent)}`);
  if (spec.details) lines.push('', spec.details.trimEnd());
  return `${lines.join('\n')}\n`;
}

/**
 * A value that starts with '-' after a flag that takes one (`--port -1`): node:util's parseArgs
 * calls that ambiguous and refuses it; a number is a value, so pass it as `--port=-1` and let the
 * option's own check say what is wrong with it.
 */
function joinNegativeValues(args: string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : Object.keys(options).find((k) => options[k].short && `-${options[k].short}` === args[i]);
    if (name && options[name]?.type === 'string' && /^-\d/.test(args[i + 1] ?? '')) {
      out.push(`--${name}=${args[++i]}`);
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/** Parses process.argv; prints usage and exits 0 on --help, or exits 2 on a bad flag. */
export function parseCommand(spec: CommandSpec): Parsed {
  try {
    const args = joinNegativeValues(process.argv.slice(spec.command ? 3 : 2), spec.options);
    const parsed = parseArgs({ args, options: spec.options, allowPositionals: Boolean(spec.positionals), strict: true, tokens: true });
    if (parsed.values.help) {
      process.stdout.write(usage(spec));
      process.exit(0);
    }
    const given = new Set(parsed.tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
    return { values: parsed.values, positionals: parsed.positionals, given } as Parsed;
  } catch (err) {
    // node:util's first sentence says what is wrong; its advice about '--' does not fit a server.
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
    process.stderr.write(`${commandName(spec.command)}: ${message}\n${usageLine(spec)} (--help for more)\n`);
    process.exit(2);
  }
}

/** A TCP port from a flag: an integer 0..65535. */
export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new UsageError(`invalid port '${text}' (expected 0..65535)`);
  return n;
}

/** A listening address from --host: numeric IPv4/IPv6, '' for all interfaces, or localhost. */
export function parseHost(text: string): string {
  if (text === '' || isIP(text)) return text;
  if (text === 'localhost') return '127.0.0.1';
  throw new UsageError(`invalid --host '${text}' (expected a numeric IPv4/IPv6 address or localhost)`);
}

/** --host and --port of a server entry, checked. */
export function serverAddress(values: Parsed['values']): { host: string; port: number } {
  return { host: parseHost(values.host as string), port: parsePort(values.port as string) };
}

/** A host name or numeric address for a client to connect to, resolved to a numeric address. */
export async function resolveAddress(host: string): Promise<string> {
  return isIP(host) ? host : (await lookup(host)).address;
}

/** The optional `module:export` argument and `--interface` of the entries that host an app. */
export function appArgument({ positionals, values }: Parsed): { spec?: string; forced?: 'node' | 'fetch' } {
  if (positionals.length > 1) throw new UsageError(`one app only (got ${positionals.join(' ')})`);
  const forced = values.interface as string | undefined;
  if (forced !== undefined && forced !== 'node' && forced !== 'fetch') throw new UsageError(`invalid --interface '${forced}' (expected node or fetch)`);
  if (forced !== undefined && positionals.length === 0) throw new UsageError('--interface needs an app (module:export)');
  return { spec: positionals[0], forced };
}

/** A non-negative number from a flag (seconds, counts). */
export function parseNumber(name: string, text: string, { integer = false, min = 0 } = {}): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(`invalid --${name} '${text}' (expected ${integer ? 'an integer' : 'a number'} >= ${min})`);
  }
  return n;
}

/**
 * Runs an entry's main function (or a subcommand's, named in its errors). Errors the user caused (a
 * failed system call, a bad flag) print one line and exit 1 (2 for usage); anything else is a bug
 * and keeps its stack.
 */
export function runMain(main: () => void | Promise<void>, command?: string): void {
  const fail = (err: unknown): void => {
    // A system error from Node itself (a DNS lookup: `getaddrinfo ENOTFOUND host`) is also the
    // environment's answer, not a bug: one line, like ours.
    const e = err as { code?: unknown; syscall?: unknown };
    const systemError = typeof e?.code === 'string' && typeof e.syscall === 'string';
    if (err instanceof PosixError || err instanceof UsageError || systemError || isForkserveError(err)) {
      process.stderr.write(`${commandName(command)}: ${(err as Error).message}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    }
    process.stderr.write(`${commandName(command)}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  };
  try {
    const r = main();
    if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch(fail);
  } catch (err) {
    fail(err);
  }
}
