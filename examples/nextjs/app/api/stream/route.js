// A streamed response: five chunks written 50 ms apart (chunked transfer encoding).
export const dynamic = 'force-dynamic';

export function GET() {
  const encoder = new TextEncoder();
  let i = 0;
  const stream = new ReadableStream({
    async pull(controller) {
      if (i === 5) return controller.close();
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      controller.enqueue(encoder.encode(`chunk ${i++}\n`));
    },
  });
  return new Response(stream, { headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
}
