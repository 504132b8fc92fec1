// A plain fetch handler, no framework: an object with fetch(request) -> Response (the shape
// Bun, Deno and Cloudflare Workers use).
//   node dist/webserver2.js examples/fetch/app.mjs
import { createHash } from 'node:crypto';

const text = (body, status = 200, headers = {}) =>
  new Response(body, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers } });

function ticker(count, size, ms, signal) {
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (signal.aborted) return controller.close();
      controller.enqueue(size ? new Uint8Array(size).fill(120) : new TextEncoder().encode(`chunk ${i}\n`));
      if (++i === count) controller.close();
    },
  });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const route = `${request.method === 'HEAD' ? 'GET' : request.method} ${url.pathname}`;
    switch (route) {
      case 'GET /hello':
        return text('Hello world from a fetch handler!');
      case 'GET /query': {
        const query = {};
        for (const key of new Set(url.searchParams.keys())) {
          const values = url.searchParams.getAll(key);
          query[key] = values.length === 1 ? values[0] : values;
        }
        return Response.json({ query });
      }
      case 'POST /echo':
        return Response.json({ received: await request.json() });
      case 'POST /upload': {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of request.body) {
          bytes += chunk.byteLength;
          hash.update(chunk);
        }
        return Response.json({ bytes, sha256: hash.digest('hex') });
      }
      case 'GET /stream':
        return new Response(ticker(5, 0, 10, request.signal), { headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
      case 'GET /slow':
        return new Response(ticker(500, 1024, 10, request.signal), { headers: { 'Content-Type': 'application/octet-stream' } });
      case 'GET /redirect':
        return new Response(null, { status: 302, headers: { Location: '/hello' } });
      case 'GET /cookies': {
        const headers = new Headers({ 'Content-Type': 'text/plain; charset=utf-8' });
        for (const c of ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Path=/x']) headers.append('Set-Cookie', c);
        return new Response('three cookies', { headers });
      }
      case 'GET /error':
        throw new Error('boom (a handler that throws)');
      default:
        return text('Not Found', 404);
    }
  },
};
