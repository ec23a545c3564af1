// Copy buttons for the embed codes on the watch page; "Copied" is shown and announced.
for (const button of document.querySelectorAll("[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.status);
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value);
    } catch {
      source.select(); // no clipboard permission: leave it selected for Ctrl+C
      return;
    }
    status.textContent = "";
    // A fresh text node, so a second click is announced again.
    requestAnimationFrame(() => (status.textContent = button.dataset.copied));
  });
}
