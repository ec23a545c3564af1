// Play/pause: a plain button whose name says what it does now ("Play" or "Pause").

export default function play(ctl) {
  const button = ctl.$('[data-control="play"]');
  const show = () => {
    const playing = !ctl.media.paused;
    ctl.label(button, ctl.t(playing ? "pause" : "play"));
    ctl.icon(button, playing ? "pause" : "play");
  };
  button.addEventListener("click", () => ctl.toggle());
  ctl.on("play", show);
  ctl.on("pause", show);
  ctl.on("ended", show);
  ctl.actions.toggle = () => ctl.toggle();
  // A click on the picture itself plays or pauses too, as in every player.
  if (ctl.media.localName == "video") ctl.media.addEventListener("click", () => ctl.toggle());
  show();
}
