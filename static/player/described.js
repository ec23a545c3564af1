// Described version: the clip with audio description mixed in, swapped in at the same moment.

export default function described(ctl) {
  const box = ctl.$(".amps-described");
  const data = ctl.root.dataset;
  if (!box || !data.describedSrc) return;
  const media = ctl.media;
  const source = media.querySelector("source");
  const files = {
    true: { src: data.describedSrc, type: data.describedType },
    false: { src: data.mainSrc, type: data.mainType },
  };
  // Its own live region: the status region is cleared by the very events a swap causes.
  const live = document.createElement("p");
  live.className = "amps-visually-hidden amps-described-status";
  live.setAttribute("role", "status");
  ctl.root.append(live);
  let on = source.getAttribute("src").split("#")[0] == data.describedSrc; // described=1

  const swap = (want, quiet) => {
    box.checked = want;
    if (want == on) return;
    on = want;
    ctl.save("described", on);
    const at = media.currentTime, rate = media.playbackRate;
    const playing = !media.paused && !media.ended;
    // The quality menu picks the programme's file from its ladder: going back, it does.
    const ladder = !on && ctl.actions.quality;
    ctl.emit("sourcechange", on ? "described" : "main");
    if (!ladder) {
      media.removeAttribute("src"); // the quality menu's pick, if any, gives way to <source>
      source.src = files[on].src;
      source.type = files[on].type;
      media.load(); // resets the time, the rate and the play state: put back below
    }
    media.addEventListener("loadedmetadata", () => {
      media.currentTime = at;
      media.playbackRate = rate;
      if (playing) ctl.play();
      if (!quiet) live.textContent = ctl.t(on ? "described_on" : "described_off");
    }, { once: true });
  };
  box.addEventListener("change", () => swap(box.checked));
  ctl.actions.described = (want = !on) => swap(want);
  box.checked = on;
  // The reader's last choice, unless the page asked for the described version already.
  if (!on && ctl.load("described", false)) swap(true, true);
}
