// Incremental Static Regeneration: generated at build time, then regenerated in the background at
// most once a second (stale-while-revalidate: the request after the second gets the old page and
// starts the regeneration, a later one gets the new page).
export const revalidate = 1;

export default function Isr() {
  return (
    <main>
      <p>
        generated at <span id="generated">{Date.now()}</span> by pid <span id="pid">{process.pid}</span>
      </p>
    </main>
  );
}
