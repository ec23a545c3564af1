// The library page: clips still processing turn to ready (or failed) without a reload.
const strings = JSON.parse(document.querySelector(".amps-library-strings")?.textContent || "{}");
const POLL_MS = 3000;

function pending() {
  return [...document.querySelectorAll('.amps-library-item[data-status="processing"]')];
}

async function refresh(item) {
  const response = await fetch(`/api/media/${encodeURIComponent(item.dataset.id)}`);
  if (!response.ok) return;
  const record = await response.json();
  if (record.status === item.dataset.status) return;
  item.dataset.status = record.status;
  item.querySelector(".amps-library-status").textContent = strings[record.status] || record.status;
}

async function poll() {
  const items = pending();
  if (!items.length) return;
  await Promise.allSettled(items.map(refresh));
  setTimeout(poll, POLL_MS);
}

setTimeout(poll, POLL_MS);
