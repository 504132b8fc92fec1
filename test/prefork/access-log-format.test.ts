// The access log's format language (gunicorn's %(name)s atoms), without forking: lines made from
// hand-built outcomes, the escaping that keeps a line one line, and the formats refused at start-up.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RequestHead } from '../../src/http/parser';
import { AccessLog, DEFAULT_ACCESS_LOG_FORMAT, clfTime, compileAccessLogFormat, type AccessEntry } from '../../src/prefork/access-log';

function head(method: string, target: string, headers: [string, string][] = []): RequestHead {
  const fields = new Map<string, string[]>();
  for (const [name, value] of headers) fields.set(name.toLowerCase(), [...(fields.get(name.toLowerCase()) ?? []), value]);
  return { method, target, versionMajor: 1, versionMinor: 1, headers, fields, contentLength: null, chunked: false, keepAlive: true, upgrade: false, expectContinue: false };
}

function entry(over: Partial<AccessEntry> = {}, responseHeaders: Record<string, string> = {}): AccessEntry {
  return {
    head: head('GET', '/hello?x=1&y=2', [['Referer', 'http://ref/'], ['User-Agent', 'curl/8'], ['X-Custom', 'abc']]),
    remoteAddress: '10.0.0.7',
    status: 200,
    bodyBytes: 25,
    durationMs: 1234.5678,
    responseHeader: (name) => responseHeaders[name],
    ...over,
  };
}

const format = (fmt: string, e: AccessEntry): string => compileAccessLogFormat(fmt)(e);

describe('access log format', () => {
  it("the default format is gunicorn's combined log", () => {
    const line = format(DEFAULT_ACCESS_LOG_FORMAT, entry());
    expect(line).toBe(`10.0.0.7 - - ${clfTime()} "GET /hello?x=1&y=2 HTTP/1.1" 200 25 "http://ref/" "curl/8"`);
  });

  it('time: [dd/Mon/yyyy:HH:MM:SS +zzzz] in local time', () => {
    const at = Date.UTC(2026, 10, 27, 23, 55, 36, 500);
    const d = new Date(at);
    const t = clfTime(at);
    expect(t).toMatch(/^\[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]$/);
    const offset = -d.getTimezoneOffset();
    const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}${String(Math.abs(offset) % 60).padStart(2, '0')}`;
    expect(t.endsWith(` ${zone}]`)).toBe(true);
    if (offset === 0) expect(t).toBe('[27/Nov/2026:23:55:36 +0000]');
  });

  it('every atom', () => {
    const e = entry({ durationMs: 2345.6789 }, { 'content-type': 'text/plain' });
    const fmt = '%(h)s|%(l)s|%(u)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(f)s|%(a)s|%(T)s|%(D)s|%(M)s|%(L)s|%(p)s|%({x-custom}i)s|%({content-type}o)s';
    expect(format(fmt, e)).toBe(
      `10.0.0.7|-|-|GET /hello?x=1&y=2 HTTP/1.1|GET|/hello|x=1&y=2|HTTP/1.1|200|25|25|http://ref/|curl/8|2|2345678|2345|2.345679|<${process.pid}>|abc|text/plain`,
    );
  });

  it("missing values are '-'; B is 0 where b is '-'; unknown atoms are '-' (gunicorn)", () => {
    const e = entry({ head: head('GET', '/'), status: 0, bodyBytes: 0, remoteAddress: undefined });
    expect(format('%(h)s %(s)s %(B)s %(b)s %(q)s %(f)s %(a)s %({x-none}i)s %({x-none}o)s %(zz)s %(X)s %({weird}e)s', e)).toBe('- - 0 - - - - - - - - -');
  });

  it("an answer without a request head (a 400 the connection wrote) has '-' for every request field", () => {
    const e = entry({ head: null, status: 400, bodyBytes: 12 });
    expect(format(DEFAULT_ACCESS_LOG_FORMAT, e)).toBe(`10.0.0.7 - - ${clfTime()} "-" 400 12 "-" "-"`);
    expect(format('%(m)s %(U)s %(q)s %(H)s %(u)s', e)).toBe('- - - - -');
  });

  it('request headers by any case, joined when repeated; {..}i keys are matched in lower case', () => {
    const e = entry({ head: head('GET', '/', [['X-Forwarded-For', '1.1.1.1'], ['x-forwarded-for', '2.2.2.2']]) });
    expect(format('%({X-Forwarded-For}i)s|%({x-forwarded-for}I)s', e)).toBe('1.1.1.1, 2.2.2.2|1.1.1.1, 2.2.2.2');
  });

  it('the Basic auth user', () => {
    const auth = `Basic ${Buffer.from('alice:s3cret:x').toString('base64')}`;
    expect(format('%(u)s', entry({ head: head('GET', '/', [['Authorization', auth]]) }))).toBe('alice');
    expect(format('%(u)s', entry({ head: head('GET', '/', [['Authorization', 'Bearer abc']]) }))).toBe('-');
  });

  it('absolute-form and odd targets: U is the path, q the query', () => {
    const e = (target: string): AccessEntry => entry({ head: head('GET', target) });
    expect(format('%(U)s %(q)s', e('http://example.com/a/b?c=d'))).toBe('/a/b c=d');
    expect(format('%(U)s %(q)s', e('http://example.com'))).toBe('/ -');
    expect(format('%(U)s %(q)s', e('/p?'))).toBe('/p -');
    expect(format('%(U)s %(q)s', e('*'))).toBe('* -');
  });

  it('quotes, backslashes and control characters are escaped: a line stays one line', () => {
    const e = entry({ head: head('GET', '/', [['User-Agent', 'say "hi" \\ o/\x01'], ['Referer', 'a\tb']]) });
    const line = format(DEFAULT_ACCESS_LOG_FORMAT, e);
    expect(line).toContain('"a\\x09b" "say \\"hi\\" \\\\ o/\\x01"');
    expect(line).not.toMatch(/[\x00-\x1f]/);
    const c1 = compileAccessLogFormat('%(a)s')(entry({ head: head('GET', '/', [['User-Agent', 'a\u0085b\u2028c']]) }));
    expect(c1).toBe('a\\x85b\\u2028c');
  });

  it("Python's %% and width/precision/flags", () => {
    const e = entry({ status: 404, bodyBytes: 7 });
    expect(format('100%% %(s)5s|%(s)-5s|%(B)05d|%(m).2s', e)).toBe('100%   404|404  |00007|GE');
  });

  it('formats Python would refuse are refused at start-up, with where', () => {
    for (const bad of ['%(h)s %', '%h', '%(h)', '%(h)q', 'x %s', '%(h) -  %(t)s']) {
      expect(() => compileAccessLogFormat(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_FORKSERVE_ACCESS_LOG' }));
    }
    expect(() => compileAccessLogFormat('%(h)s %')).toThrow(/at character 7/);
  });
});

describe('access log writer', () => {
  it('appends whole lines to a file, one write per turn; reopen() moves on to a new file at the same path', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkserve-al-'));
    const file = path.join(dir, 'access.log');
    fs.writeFileSync(file, 'existing\n');
    const log = AccessLog.open(file, '%(U)s %(s)s');
    const e = (p: string): AccessEntry => entry({ head: head('GET', p) });
    log.log(e('/a'));
    log.log(e('/b'));
    expect(fs.readFileSync(file, 'utf8'), 'held until the end of the turn').toBe('existing\n');
    await new Promise((r) => setImmediate(r));
    expect(fs.readFileSync(file, 'utf8')).toBe('existing\n/a 200\n/b 200\n');
    fs.renameSync(file, `${file}.1`);
    log.log(e('/c'));
    log.reopen(); // what was held goes to the old file first
    log.log(e('/d'));
    log.flush();
    expect(fs.readFileSync(`${file}.1`, 'utf8')).toBe('existing\n/a 200\n/b 200\n/c 200\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('/d 200\n');
    fs.rmSync(dir, { recursive: true });
  });

  it('a file that cannot be opened is one error with the path', () => {
    expect(() => AccessLog.open('/nonexistent-dir/x/access.log')).toThrow(expect.objectContaining({ code: 'ERR_FORKSERVE_ACCESS_LOG', message: expect.stringContaining('/nonexistent-dir/x/access.log') }));
  });
});
