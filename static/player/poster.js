// Poster: the page shows the small still, quick on a slow link. A player shown wider than
// that still on a fast link gets the full one once its media has begun to load (so the two
// never compete), unless it plays already.
import { linkSpeed } from "./link.js";

const SMALL = 640; // px: app/media/posters.py SMALL_WIDTH

export default function poster(ctl) {
  const media = ctl.media, full = media.dataset.fullPoster;
  if (!full) return;
  if (linkSpeed() != "fast") return;
  const unplayed = () => media.paused && !media.currentTime;
  const upgrade = () => {
    if (!unplayed() || media.clientWidth * (window.devicePixelRatio || 1) <= SMALL * 1.25) return;
    const still = new Image();
    still.onload = () => unplayed() && (media.poster = full); // no blank while it loads
    still.src = full;
  };
  media.readyState ? upgrade() : media.addEventListener("loadedmetadata", upgrade, { once: true });
}
