// States in the role=status region (after a delay: no chatter) and the "no media" alert.

export default function status(ctl) {
  const region = ctl.$(".amps-status");
  const media = ctl.media;
  let timer;
  const say = (key) => {
    clearTimeout(timer);
    region.textContent = key ? ctl.t(key) : "";
  };
  const later = (key, still, wait = 500) => {
    clearTimeout(timer);
    timer = setTimeout(() => still() && say(key), wait);
  };
  // Counted from the page's start (or a new source's): on a slow link the reader has waited
  // long before this script runs, and the media only starts loading once it has.
  let since = 0;
  media.addEventListener("emptied", () => (since = performance.now()));
  // (501: a timer may fire a fraction of a millisecond before performance.now() says it is due.)
  const loading = () => later("loading", () => media.readyState < 1, since + 501 - performance.now());

  ctl.on("loadstart", loading);
  for (const type of ["waiting", "stalled"]) {
    ctl.on(type, () => later("buffering", () => !media.paused && media.readyState < 3));
  }
  for (const type of ["loadedmetadata", "canplay", "playing", "pause"]) {
    ctl.on(type, () => media.ended || say());
  }
  for (const type of ["play", "seeking"]) ctl.on(type, () => say());
  ctl.on("ended", () => say("ended"));

  const fail = () => {
    if (ctl.root.dataset.state == "error") return;
    say();
    ctl.root.dataset.state = "error";
    media.hidden = ctl.$(".amps-controls").hidden = true;
    const transcript = document.getElementById("amps-transcript");
    if (transcript) transcript.hidden = false; // still offered, even in an embed
    const message = ctl.$(".amps-message");
    const title = message.firstElementChild;
    const text = title.textContent;
    message.hidden = false;
    title.textContent = ""; // filled again once shown, so the alert is announced
    requestAnimationFrame(() => (title.textContent = text));
    ctl.emit("error", media.error);
  };
  // A <source> error (e.g. a codec) does not bubble: caught on the way down; the last counts.
  media.addEventListener("error", (e) => {
    if (e.target == media || !e.target.nextElementSibling?.matches("source")) fail();
  }, true);
  // Modules run after parsing: it may have failed before. NETWORK_NO_SOURCE alone is not
  // proof: the browser is in that state while it picks a <source>, until a stable state that
  // Chromium reaches on a timer of its own (a cached page and script can run before it). Still
  // without a source a quarter of a second later, it failed.
  const noSource = () => media.networkState == media.NETWORK_NO_SOURCE && !media.currentSrc;
  const stillNone = (tries) => noSource() && (tries ? setTimeout(stillNone, 50, tries - 1) : fail());
  if (media.error) fail();
  else {
    if (media.readyState < 1) loading();
    stillNone(5);
  }
}
