// A static page: prerendered at build time, the same bytes from every server.
export default function Home() {
  return (
    <main>
      <h1>Hello world from Next.js!</h1>
      <p>
        <a href="/isr">ISR</a> · <a href="/suspense">streamed page</a> · <a href="/api/hello">/api/hello</a> ·{' '}
        <a href="/forkserve.txt">a static file</a>
      </p>
    </main>
  );
}
