// The final server's built-in app: "Hello, World!" for every request, as real HTTP/1.1.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimpleApp } from './http-connection';

const BODY = Buffer.from('Hello, World!\n', 'latin1');

export const helloApp: SimpleApp = () => ({
  status: 200,
  headers: [['Content-Type', 'text/plain; charset=utf-8']],
  body: BODY,
});

let version: string | undefined;

/** "forkserve/<version>", from package.json ("forkserve" alone if it cannot be read). */
export function serverHeader(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      version = '';
    }
  }
  return version ? `forkserve/${version}` : 'forkserve';
}
