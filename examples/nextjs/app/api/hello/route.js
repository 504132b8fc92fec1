// A route handler answering JSON (static: prerendered at build time, as Next does for a GET without request data).
export function GET() {
  return Response.json({ hello: 'world from a Next.js route handler' });
}
