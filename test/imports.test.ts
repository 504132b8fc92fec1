// Imports point one way: bin -> prefork -> server -> (gateway, http) -> posix -> fork-hazards. Nothing imports bin/;
// http/ needs nothing from posix or server; only posix.ts loads the addon.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '..', 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layer(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? rel[0] : path.basename(rel[0], '.ts');
}

const ALLOWED: Record<string, string[]> = {
  bin: ['cli', 'prefork', 'server', 'gateway', 'http', 'posix'],
  prefork: ['server', 'gateway', 'http', 'posix', 'fork-hazards'],
  cli: ['posix', 'entry'],
  entry: [],
  server: ['gateway', 'http', 'posix', 'fork-hazards'],
  gateway: ['http', 'posix'],
  http: [],
  posix: ['native-types', 'fork-hazards'],
  // The words of fork()'s refusals: pure, below posix.
  'fork-hazards': ['native-types'],
  'native-types': [],
};

describe('layering', () => {
  it('every relative import goes down the layers', () => {
    const violations: string[] = [];
    for (const file of sources(SRC)) {
      const from = layer(file);
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|require\()\s*['"](\.[^'"]+)['"]/g)) {
        const target = layer(path.resolve(path.dirname(file), m[1]) + '.ts');
        if (target !== from && !(ALLOWED[from] ?? []).includes(target)) violations.push(`${path.relative(SRC, file)} -> ${m[1]}`);
      }
      if (from !== 'posix' && /\.node['"]/.test(text)) violations.push(`${path.relative(SRC, file)} loads the addon`);
    }
    expect(violations).toEqual([]);
  });
});
