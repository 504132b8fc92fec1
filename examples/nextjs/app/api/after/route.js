// Work after the response (Next.js after()): 300 ms after answering, the request's id and the pid are
// appended to $AFTER_FILE. A server that ends its process as soon as the response is sent loses it.
import { appendFile } from 'node:fs/promises';
import { after } from 'next/server';

export const dynamic = 'force-dynamic';

export function GET(request) {
  const id = new URL(request.url).searchParams.get('id');
  after(async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    await appendFile(process.env.AFTER_FILE, `${id} ${process.pid}\n`);
  });
  return Response.json({ id });
}
