// A page streamed with Suspense: the shell first, then the slow part when it resolves (500 ms later).
import { Suspense } from 'react';

export const dynamic = 'force-dynamic';

async function Slow() {
  await new Promise((resolve) => setTimeout(resolve, 500));
  return <p id="slow">slow part done</p>;
}

export default function Streamed() {
  return (
    <main>
      <p>shell</p>
      <Suspense fallback={<p id="fallback">loading…</p>}>
        <Slow />
      </Suspense>
    </main>
  );
}
