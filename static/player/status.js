// Player states in the role=status region: loading and buffering (after a short delay, so a
// fast network never makes it chatter), ended; and the "no media" alert when the browser
// cannot play the clip (a MediaError, or every <source> failed, e.g. an unsupported codec).

const DELAY = 500;

export default function status(ctl) {
  const region = ctl.$(".amps-status");
  const media = ctl.media;
  let timer;
  const say = (key) => {
    clearTimeout(timer);
    region.textContent = key ? ctl.t(key) : "";
  };
  const later = (key, still) => {
    clearTimeout(timer);
    timer = setTimeout(() => still() && say(key), DELAY);
  };

  ctl.on("loadstart", () => later("loading", () => media.readyState < 1));
  for (const type of ["waiting", "stalled"]) {
    ctl.on(type, () => later("buffering", () => !media.paused && media.readyState < 3));
  }
  for (const type of ["loadedmetadata", "canplay", "playing", "pause"]) {
    ctl.on(type, () => media.ended || say());
  }
  ctl.on("play", () => say());
  ctl.on("seeking", () => say());
  ctl.on("ended", () => say("ended"));

  const fail = () => {
    if (ctl.root.dataset.state == "error") return;
    say();
    ctl.root.dataset.state = "error";
    media.hidden = true;
    ctl.$(".amps-controls").hidden = true;
    const message = ctl.$(".amps-message");
    const title = message.firstElementChild;
    const text = title.textContent;
    message.hidden = false;
    title.textContent = ""; // changed after it is shown, so the alert is announced
    requestAnimationFrame(() => (title.textContent = text));
    ctl.emit("error", media.error);
  };
  // <source> errors do not bubble: catch them on the way down. Only the last one counts.
  media.addEventListener("error", (e) => {
    if (e.target == media || !e.target.nextElementSibling?.matches("source")) fail();
  }, true);
  // The error may have come before this module ran (modules run after parsing).
  if (media.error || media.networkState == media.NETWORK_NO_SOURCE) fail();
  else if (media.readyState < 1) later("loading", () => media.readyState < 1);
}
