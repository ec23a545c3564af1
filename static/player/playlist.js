// Playlists: Previous/Next, N/P, the list, going on at the end only when asked (README.md).
// A clip is swapped by fetching this page for its item and putting the server's player (its
// own tracks, menus and transcript) in place of the old one.
import watchProcessing from "./processing.js";

const AUTO_KEY = "amps-playlist-next";

export default function playlist(root, enhance) {
  const box = root.closest("[data-amps-playlist]");
  if (!box) return false;
  let ctl = null;
  let busy = false;
  const section = () => box.querySelector(".amps-playlist");
  const index = () => +box.dataset.index;

  const take = (player) => {
    ctl = enhance(player);
    if (!ctl) return;
    ctl.actions.next = () => go(index() + 1);
    ctl.actions.previous = () => go(index() - 1);
    ctl.actions.select = (i) => go(i);
    ctl.on("ended", () => load(AUTO_KEY) && go(index() + 1, true));
  };
  const wire = () => {
    const controls = section()?.querySelector(".amps-playlist-controls");
    if (!controls) return;
    controls.hidden = false;
    controls.querySelector(".amps-playlist-auto").checked = load(AUTO_KEY);
  };

  // Where focus was, to put it on the same control of the new markup (or on the player).
  const focusKey = () => {
    const el = document.activeElement;
    if (el?.dataset.playlist) return `[data-playlist="${el.dataset.playlist}"]`;
    if (el?.closest(".amps-playlist-items a")) return `a[data-index="${el.dataset.index}"]`;
    return el?.closest("[data-playlist-swap]") ? "player" : null;
  };

  async function go(i, playing) {
    if (busy || i < 0 || i >= +box.dataset.count || i == index()) return;
    busy = true;
    const url = new URL(location.href);
    for (const name of ["t", "start"]) url.searchParams.delete(name);
    url.searchParams.set("item", i + 1);
    let doc;
    try {
      const response = await fetch(url);
      if (!response.ok) throw new Error(response.status);
      doc = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch {
      location.assign(url); // the page itself says what is wrong (a deleted playlist: 404)
      return;
    }
    const media = ctl?.media;
    const keep = media && { volume: media.volume, muted: media.muted, playbackRate: media.playbackRate };
    playing ??= media ? !media.paused : false;
    media?.pause(); // a detached element would play on
    const focus = focusKey();
    const next = doc.querySelector("[data-amps-playlist]");
    Object.assign(box.dataset, { index: next.dataset.index, count: next.dataset.count });
    const parts = next.querySelectorAll("[data-playlist-swap]");
    box.querySelectorAll("[data-playlist-swap]").forEach((part, n) => part.replaceWith(parts[n]));
    // The live region stays the same element, so that what is written to it is announced.
    const region = section().querySelector("[role=status]");
    const fresh = next.querySelector(".amps-playlist");
    const said = fresh.querySelector("[role=status]");
    said?.replaceWith(region);
    section().replaceWith(fresh);
    wire();
    document.title = doc.title;
    history.replaceState(history.state, "", url);
    const player = box.querySelector("[data-amps-player]");
    // Inserted, the element starts choosing its source (NETWORK_NO_SOURCE until then): let it,
    // or the player would take it for a clip that cannot play.
    await new Promise((resolve) => setTimeout(resolve));
    watchProcessing(player);
    take(player);
    if (ctl && keep) Object.assign(ctl.media, keep);
    if (ctl && playing) ctl.play();
    const target = focus && focus != "player" && fresh.querySelector(focus);
    if (focus) (target && !target.disabled ? target : player).focus();
    region.textContent = "";
    requestAnimationFrame(() => (region.textContent = said?.dataset.now || ""));
    busy = false;
  }

  box.addEventListener("click", (e) => {
    const button = e.target.closest("[data-playlist]");
    const link = e.target.closest(".amps-playlist-items a");
    if (button) go(index() + (button.dataset.playlist == "next" ? 1 : -1));
    if (!link || e.button || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    go(+link.dataset.index);
  });
  box.addEventListener("change", (e) => {
    if (e.target.matches(".amps-playlist-auto")) save(AUTO_KEY, e.target.checked);
  });
  wire();
  take(root);
  return true;
}

// As the controller keeps preferences (localStorage may be missing or refused).
function load(key) {
  try {
    return JSON.parse(localStorage.getItem(key)) === true;
  } catch {
    return false;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {}
}
