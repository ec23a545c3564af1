// A clip still being prepared: ask the API every few seconds, reload the page once it is
// ready or has failed (the server then renders the player, or the reason it failed).
const POLL_MS = 3000;

// A private clip's page opened with a signed URL: its record answers to the same signature.
function signature() {
  const query = new URLSearchParams(location.search);
  const exp = query.get("exp");
  const sig = query.get("sig");
  return exp && sig ? `?${new URLSearchParams({ exp, sig })}` : "";
}

export default function watchProcessing(root) {
  const id = root.dataset.id;
  if (root.dataset.state != "processing" || !id) return;
  const check = async () => {
    try {
      const response = await fetch(`/api/media/${encodeURIComponent(id)}${signature()}`);
      const record = response.ok ? await response.json() : null;
      if (record && record.status != "processing") return location.reload();
    } catch {
      // offline for a moment: try again at the next tick
    }
    setTimeout(check, POLL_MS);
  };
  setTimeout(check, POLL_MS);
}
