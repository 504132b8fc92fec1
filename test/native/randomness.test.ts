// Fresh randomness in every child: fork copies V8's Math.random state and Node's entropy caches.
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runFixture } from '../helpers/procs';

afterEach(killAll);

describe('randomness after fork', () => {
  it('200 children of one parent draw distinct Math.random, randomUUID and randomInt values', async () => {
    const r = await runFixture('randomness.js', ['200'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const children = rows.filter((x) => x.child);
    const parent = rows.find((x) => x.parent);
    expect(children).toHaveLength(200);
    for (const key of ['math', 'uuid', 'int'] as const) {
      const all = [...children.flatMap((c) => c[key]), ...parent[key]].map(String);
      expect(new Set(all).size, key).toBe(all.length);
    }
    for (const c of children) expect(c.uuid[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const c of children) for (const m of c.math) expect(m >= 0 && m < 1).toBe(true);
  });
});
