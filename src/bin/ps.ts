// The lesson inspector: a server's children with their state (R running, S sleeping, Z zombie) and
// age, and the server's own open descriptor count. `--watch 1` repeats every second.

import { UsageError, parseCommand, parseNumber, runMain } from '../cli';
import { listChildren, openFdCount, processExists } from '../server/inspect';
import { plural, say } from '../server/log';

function report(pid: number): void {
  const children = listChildren(pid);
  const zombies = children.filter((c) => c.state.startsWith('Z')).length;
  const fds = openFdCount(pid);
  say(`Server ${pid}: ${fds ?? '?'} open fds, ${plural(children.length, 'child', 'children')} (${plural(zombies, 'zombie', 'zombies')})`);
  if (children.length === 0) return;
  say(`${'PID'.padStart(8)}  STAT  ${'AGE'.padStart(6)}  COMMAND`);
  for (const c of children) say(`${String(c.pid).padStart(8)}  ${c.state.padEnd(4)}  ${`${c.ageSeconds}s`.padStart(6)}  ${c.command}`);
}

runMain(async () => {
  const { values, positionals } = parseCommand({
    summary: 'Lists a server\'s children (state R/S/Z, age) and its open descriptor count.',
    positionals: '<server pid>',
    options: {
      watch: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    help: { watch: 'repeat every N seconds until the server exits', help: 'show this help and exit' },
  });
  if (positionals.length !== 1 || !/^\d+$/.test(positionals[0])) throw new UsageError('expected one argument: the server\'s pid');
  const pid = Number(positionals[0]);
  if (!processExists(pid)) throw new UsageError(`no process ${pid}`);
  report(pid);
  if (values.watch === undefined) return;
  const everyMs = parseNumber('watch', values.watch as string, { min: 0.1 }) * 1000;
  const timer = setInterval(() => {
    if (!processExists(pid)) {
      say(`Server ${pid} has exited.`);
      clearInterval(timer);
      return;
    }
    say(`--- ${new Date().toISOString()}`);
    report(pid);
  }, everyMs);
});
