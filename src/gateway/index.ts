// The gateway: any app, any framework, served over our sockets (the tutorial's part 2, WSGI's role).
// app.ts finds and classifies the app; connection.ts speaks HTTP/1.1 on one connection;
// node-gateway.ts and fetch-gateway.ts are the two interfaces an app can have.

import type { SocketAddress } from '../posix';
import type { LoadedApp } from './app';
import { serveConnection, type GatewayOptions } from './connection';
import { fetchDialect } from './fetch-gateway';
import { nodeDialect, upgradeTakeover } from './node-gateway';

export { AppLoadError, classify, loadApp, parseAppSpec, resolveModule, type AppSpec, type Interface, type LoadedApp } from './app';
export { drainConnections, type GatewayOptions, type RequestObserver, type Tracer } from './connection';
export { RequestOutcome } from './outcome';

/** Serves one connection to `app`; the promise settles when the connection is closed. */
export function gatewayHandler(
  app: LoadedApp,
  options: GatewayOptions,
  onError: (err: unknown) => void,
): (fd: number, peer: SocketAddress) => Promise<void> {
  const dialect =
    app.interface === 'node' ? nodeDialect(app.listener, onError, { handlesContinue: app.handlesContinue }) : fetchDialect(app.fetch, onError);
  const takeover = app.interface === 'node' && app.upgrades ? upgradeTakeover(app.upgrades, onError) : undefined;
  return (fd, peer) => serveConnection(fd, peer, dialect, options, takeover);
}
