// What a framework the app loaded does wrong when its process is forked or its requests are spread
// over processes, and cannot be made safe from outside: said once at start-up, with the fix. Found
// from the framework's own modules in require.cache (its settings are not forkserve's to read).

/** The loaded module whose path ends with `tail` (with / or \ between the parts), or undefined. */
function loadedModule(tail: RegExp): NodeJS.Module | undefined {
  for (const [file, mod] of Object.entries(require.cache)) if (tail.test(file)) return mod;
  return undefined;
}

/**
 * socket.io with several workers: its long-polling transport needs every request of a session in one
 * process (sticky sessions). Said whenever socket.io is loaded: its transports are not visible here.
 */
export function socketIoAdvice(workers: number): string | undefined {
  if (workers <= 1 || !loadedModule(/[\\/]engine\.io[\\/]build[\\/]server\.js$/)) return undefined;
  return (
    `warning: socket.io (engine.io) with ${workers} workers: its long-polling transport, on by default, needs every request of a ` +
    "session in one process (sticky sessions), which forkserve's workers do not give: polling clients get 400 'Session ID unknown'. " +
    "Allow only WebSockets (new Server(httpServer, { transports: ['websocket'] }), and the same on the client), or run -w 1 " +
    '(this is said whenever socket.io is loaded: forkserve cannot see its transports)'
  );
}

/** How many pages and fetches Next.js holds in this process's memory (its incremental cache), if it is loaded. */
export function nextMemoryCacheEntries(): number {
  const mod = loadedModule(/[\\/]next[\\/]dist[\\/]server[\\/]lib[\\/]incremental-cache[\\/]file-system-cache\.js$/);
  const cache = (mod?.exports as { default?: { memoryCache?: { size?: unknown } } } | undefined)?.default?.memoryCache;
  return typeof cache?.size === 'number' ? cache.size : 0;
}

/**
 * Next.js with entries in its in-memory cache before a fork per connection (a --warm-up that
 * rendered pages): every child starts with that copy and serves it; an ISR page then never
 * changes (each child regenerates it into its own memory, and exits).
 */
export function nextForkPerConnectionAdvice(): string | undefined {
  const entries = nextMemoryCacheEntries();
  if (entries === 0) return undefined;
  return (
    `warning: Next.js holds ${entries === 1 ? '1 page or fetch' : `${entries} pages or fetches`} in this process's memory after the warm-up: ` +
    'every child starts with that copy and serves it, so an ISR page among them never regenerates (x-nextjs-cache: STALE). ' +
    "Set cacheMaxMemorySize: 0 in next.config.js (each process then reads Next's cache on disk), or warm up other paths"
  );
}
