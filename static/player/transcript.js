// The transcript: current line marked and kept in view, click/Enter seeks, search filters.

export default function transcript(ctl) {
  const section = document.getElementById("amps-transcript");
  if (!section) return;
  const toggle = ctl.$('[data-control="transcript"]');
  const list = section.querySelector(".amps-transcript-lines");
  const lines = [...list.querySelectorAll(".amps-cue")];
  let current;
  if ("collapsed" in section.dataset && ctl.root.dataset.state != "error") section.hidden = true;

  toggle?.addEventListener("click", () => {
    section.hidden = !section.hidden;
    toggle.setAttribute("aria-expanded", !section.hidden);
  });

  // Scrolls the list, never the page, and not while someone is reading or using it.
  const reveal = (line) => {
    const box = list.getBoundingClientRect();
    const at = line.getBoundingClientRect();
    if (list.matches(":hover, :focus-within") || (at.top >= box.top && at.bottom <= box.bottom)) return;
    const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
    list.scrollTo({ top: list.scrollTop + at.top - box.top - box.height / 3, behavior: smooth ? "smooth" : "auto" });
  };
  const mark = (time) => {
    const hit = lines.find((l) => +l.dataset.start <= time && time < +l.dataset.end);
    if (hit == current) return;
    current?.removeAttribute("aria-current");
    hit?.setAttribute("aria-current", "true");
    current = hit;
    if (hit && !ctl.media.paused) reveal(hit);
  };
  for (const type of ["timeupdate", "seeked", "loadedmetadata"]) ctl.on(type, () => mark(ctl.media.currentTime));

  list.addEventListener("click", (e) => {
    const line = e.target.closest(".amps-cue");
    if (!line || e.button || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    ctl.seek(+line.dataset.start);
    mark(+line.dataset.start);
  });

  const search = section.querySelector(".amps-transcript-search");
  const input = search.querySelector("input");
  const count = search.querySelector(".amps-transcript-count");
  let timer;
  search.hidden = false;
  input.addEventListener("input", () => {
    const query = input.value.trim().toLocaleLowerCase();
    let shown = 0;
    for (const line of lines) {
      const match = line.textContent.toLocaleLowerCase().includes(query);
      line.parentNode.hidden = !match;
      shown += match;
    }
    // Announced when typing pauses, not at every key.
    clearTimeout(timer);
    timer = setTimeout(() => {
      count.textContent = !query ? "" : shown ? ctl.t("matches", { count: shown }) : ctl.t("no_matches");
    }, 400);
  });
}
