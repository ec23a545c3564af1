// Quality: which file of the clip's rendition ladder plays (README.md). "Auto" picks a plain
// rendition from the rendered size, devicePixelRatio and the connection, and steps down after
// repeated stalls; native HLS only where the browser is trusted with it. No menu, no ladder.

import { linkSpeed } from "./link.js";

const STALLS = 2; // stalls within STALL_WINDOW ms that make "Auto" step down
const STALL_WINDOW = 30000;

export default function quality(ctl) {
  const button = ctl.$('[data-menu="quality"]');
  if (!button) return;
  const media = ctl.media;
  const radios = ctl.$$('[name="amps-quality"]');
  const videos = radios.filter((r) => r.dataset.height)
    .map((r) => ({ name: r.value, src: r.dataset.src, height: +r.dataset.height, width: +r.dataset.width }));
  // Chromium plays HLS but ignores its byte ranges: trusted only with ManagedMediaSource
  // (Safari) or without MediaSource (iOS).
  const hls = ctl.root.dataset.hls
    && (window.ManagedMediaSource || !window.MediaSource)
    && media.canPlayType("application/vnd.apple.mpegurl") ? ctl.root.dataset.hls : "";
  let choice = ctl.load("quality", "auto");
  if (!radios.some((r) => r.value == choice)) choice = "auto";
  // The described version (described.js) is one file: while it plays the ladder steps aside.
  const source = media.querySelector("source");
  let described = !!ctl.root.dataset.describedSrc
    && (source?.getAttribute("src") || "").split("#")[0] == ctl.root.dataset.describedSrc;
  let cap = Infinity; // lowered by stalls
  let now = null; // what plays: a rendition name, "audio" or "hls"
  let stalls = [];

  const fit = () => {
    const top = videos[videos.length - 1];
    const shown = Math.min(media.clientHeight || Infinity, media.clientWidth * top.height / top.width);
    let want = (shown || top.height) * (window.devicePixelRatio || 1);
    const speed = linkSpeed();
    if (speed == "none") want = 0;
    else if (speed == "slow") want = Math.min(want, 360);
    const allowed = videos.filter((v) => v.height <= cap);
    const pool = allowed.length ? allowed : videos.slice(0, 1);
    return pool.find((v) => v.height >= want * 0.9) || pool[pool.length - 1];
  };
  const label = (name) => name == "audio" ? ctl.t("listen_only") : name == "hls" ? "HLS" : name;
  const show = () => {
    const auto = choice == "auto";
    const shown = label(now);
    radios.find((r) => r.value == "auto").nextElementSibling.textContent = ctl.t("quality_auto", { quality: shown });
    const value = auto ? ctl.t("quality_auto", { quality: shown }) : shown;
    ctl.label(button, ctl.t("quality_value", { quality: value }));
    button.querySelector(".amps-quality-now").textContent = now == "audio" ? "♪" : now == "hls" ? "HLS" : now;
    for (const radio of radios) radio.checked = radio.value == choice;
    ctl.root.classList.toggle("amps-listening", now == "audio");
  };
  // A new source keeps the position, the play state and the speed; the choice is said once
  // it plays from there (after the status region's own clearing).
  const play = (name, src, announce) => {
    if (name == now) return show();
    const first = now == null;
    const at = media.currentTime, paused = media.paused, rate = media.playbackRate;
    now = name;
    media.src = src;
    show();
    if (first) return;
    const say = () => (ctl.$(".amps-status").textContent = ctl.t("quality_value", { quality: label(name) }));
    media.addEventListener("loadedmetadata", () => {
      if (at) media.currentTime = at;
      media.playbackRate = rate;
      if (!paused) ctl.play();
      if (announce) media.addEventListener(paused ? "canplay" : "playing", say, { once: true });
    }, { once: true });
  };
  const apply = (announce) => {
    button.hidden = described;
    if (described) return;
    if (choice == "auto" && hls) return play("hls", hls, announce);
    const radio = radios.find((r) => r.value == choice);
    const pick = choice == "auto" ? fit() : { name: choice, src: radio.dataset.src };
    play(pick.name, pick.src, announce);
  };

  for (const radio of radios) {
    radio.addEventListener("change", () => {
      choice = radio.value;
      ctl.save("quality", choice);
      cap = Infinity;
      apply(true);
    });
  }
  ctl.actions.quality = (name) => {
    choice = name;
    apply(true);
  };
  // Stalls while playing (not seeking, not the first load) count; enough of them step down.
  ctl.on("waiting", () => {
    if (described || choice != "auto" || now == "hls" || media.seeking || media.currentTime < 0.5) return;
    const t = performance.now();
    stalls = [...stalls.filter((s) => t - s < STALL_WINDOW), t];
    const current = videos.find((v) => v.name == now);
    if (stalls.length < STALLS || !current || current == videos[0]) return;
    stalls = [];
    cap = current.height - 1;
    apply(true);
  });
  ctl.on("sourcechange", (which) => {
    described = which == "described";
    now = null; // described.js puts the time, speed and play state back
    apply(false);
  });
  apply(false);
}
