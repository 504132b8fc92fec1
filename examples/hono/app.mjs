// A Hono app (an ES module; Hono speaks the fetch interface: app.fetch(request) -> Response):
//   node dist/concurrent-final.js examples/hono/app.mjs:app
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { setCookie } from 'hono/cookie';
import { stream } from 'hono/streaming';

export const app = new Hono();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

app.get('/hello', (c) => c.text('Hello world from Hono!'));

app.get('/query', (c) => {
  const query = {};
  for (const key of Object.keys(c.req.queries())) {
    const values = c.req.queries(key);
    query[key] = values.length === 1 ? values[0] : values;
  }
  return c.json({ query });
});

app.post('/echo', async (c) => c.json({ received: await c.req.json() }));

app.post('/upload', async (c) => {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of c.req.raw.body) {
    bytes += chunk.byteLength;
    hash.update(chunk);
  }
  return c.json({ bytes, sha256: hash.digest('hex') });
});

app.get('/stream', (c) => {
  c.header('Content-Type', 'text/plain; charset=utf-8');
  return stream(c, async (s) => {
    for (let i = 0; i < 5; i++) {
      await sleep(10);
      await s.write(`chunk ${i}\n`);
    }
  });
});

app.get('/slow', (c) => {
  c.header('Content-Type', 'application/octet-stream');
  return stream(c, async (s) => {
    for (let i = 0; i < 500 && !s.aborted; i++) {
      await sleep(10);
      await s.write(new Uint8Array(1024).fill(120));
    }
  });
});

app.get('/redirect', (c) => c.redirect('/hello', 302));

app.get('/cookies', (c) => {
  setCookie(c, 'a', '1');
  setCookie(c, 'b', '2', { httpOnly: true });
  setCookie(c, 'c', '3', { path: '/x' });
  return c.text('three cookies');
});

app.get('/error', () => {
  throw new Error('boom (a handler that throws)');
});

// Hono prints a thrown error before answering 500; keep the test runs quiet.
app.onError((err, c) => c.text('Internal Server Error', 500));

export default app;
