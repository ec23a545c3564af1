// Chapters: the server-rendered list (buttons with data-seek); the current one is marked.

export default function chapters(ctl) {
  const items = ctl.$$("[data-seek]");
  if (!items.length) return;
  let current;
  for (const item of items) {
    item.addEventListener("click", () => {
      ctl.seek(+item.dataset.seek);
      ctl.closeMenu(true);
    });
  }
  ctl.on("timeupdate", () => {
    const now = ctl.media.currentTime + 0.01;
    const hit = items.findLast((item) => +item.dataset.seek <= now);
    if (hit == current) return;
    current?.removeAttribute("aria-current");
    hit?.setAttribute("aria-current", "true");
    current = hit;
  });
}
