// Which unix listeners let any local user claim a client address (their peers are trusted as the
// proxy), in-process: the warning forkserve gives at start-up.
import { describe, expect, it } from 'vitest';
import { DEFAULT_SOCKET_MODE, unixExposure } from '../../src/prefork/listeners';

describe('unixExposure', () => {
  it('the default mode, and any mode without write for others, says nothing', () => {
    expect(DEFAULT_SOCKET_MODE).toBe(0o660);
    for (const mode of [DEFAULT_SOCKET_MODE, 0o600, 0o664, 0o775, 0o700]) expect(unixExposure({ kind: 'unix', path: '/run/app.sock' }, mode), mode.toString(8)).toBeUndefined();
  });

  it('write for others, or an abstract socket (no permissions), is said with the path', () => {
    expect(unixExposure({ kind: 'unix', path: '/run/app.sock' }, 0o666)).toMatch(/^unix:\/run\/app\.sock has mode 0666 \(--socket-mode\): any local user can connect/);
    expect(unixExposure({ kind: 'unix', path: '/run/app.sock' }, 0o602)).toMatch(/has mode 0602/);
    expect(unixExposure({ kind: 'unix', path: '@app' }, DEFAULT_SOCKET_MODE)).toMatch(/^unix:@app is an abstract socket, which has no permissions: any local user can connect/);
  });

  it('TCP and inherited listeners are not its business', () => {
    expect(unixExposure({ kind: 'tcp', host: '0.0.0.0', port: 80 }, 0o666)).toBeUndefined();
    expect(unixExposure({ kind: 'fd', fd: 3 }, 0o666)).toBeUndefined();
  });
});
