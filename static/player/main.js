// amps player: drives the server-rendered controls over the native media element.
import { Controller } from "./controller.js";
import status from "./status.js";
import play from "./play.js";
import seek from "./seek.js";
import time from "./time.js";
import mute from "./mute.js";
import volume from "./volume.js";
import menus from "./menu.js";
import captions from "./captions.js";
import captionStyle from "./caption-style.js";
import speed from "./speed.js";
import quality from "./quality.js";
import chapters from "./chapters.js";
import description from "./description.js";
import described from "./described.js";
import signWindow from "./sign-window.js";
import transcript from "./transcript.js";
import fullscreen from "./fullscreen.js";
import pip from "./pip.js";
import poster from "./poster.js";
import help from "./help.js";
import keyboard from "./keyboard.js";
import bridge from "./bridge.js";
import watchProcessing from "./processing.js";
import playlist from "./playlist.js";

const CONTROLS = [status, play, seek, time, mute, volume, menus, captions, captionStyle, speed,
  quality, chapters, description, described, signWindow, transcript, fullscreen, pip, help, keyboard,
  bridge, poster];

export function enhance(root) {
  if (!root.querySelector(".amps-media")) return null; // "no media": nothing to drive
  const ctl = new Controller(root);
  for (const control of CONTROLS) control(ctl);
  ctl.media.controls = false;
  ctl.media.preload = "metadata"; // "none" in the page, so that nothing loads before this
  if (ctl.root.dataset.autoplay == "1") ctl.media.autoplay = ctl.media.muted = true; // _player.html
  const links = ctl.$(".amps-file-links"); // the no-script links: the controls take over
  if (links) links.hidden = true;
  root.classList.add("amps-scripted");
  if (ctl.root.dataset.state != "error") ctl.$(".amps-controls").hidden = false;
  startAt(ctl);
  ctl.emit("ready");
  return ctl;
}

// `start=`: the source's #t= fragment starts there already; this makes sure.
function startAt(ctl) {
  const start = +ctl.root.dataset.start;
  if (!start) return;
  const go = () => ctl.media.currentTime < start - 0.5 && ctl.seek(start);
  ctl.media.readyState ? go() : ctl.media.addEventListener("loadedmetadata", go, { once: true });
}

for (const root of document.querySelectorAll("[data-amps-player]")) {
  watchProcessing(root);
  if (!playlist(root, enhance)) enhance(root); // a playlist enhances each clip it shows
}
