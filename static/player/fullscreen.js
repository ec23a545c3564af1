// Full screen of the whole player (controls, captions and all); focus stays where it was.

export default function fullscreen(ctl) {
  const button = ctl.$('[data-control="fullscreen"]');
  const media = ctl.media;
  if (!document.fullscreenEnabled) {
    // iOS Safari: only the video itself, with native controls.
    if (media.webkitEnterFullscreen) ctl.actions.fullscreen = () => media.webkitEnterFullscreen();
    else return (button.hidden = true);
  } else {
    ctl.actions.fullscreen = () => document.fullscreenElement
      ? document.exitFullscreen()
      : ctl.root.requestFullscreen().catch(() => {});
    document.addEventListener("fullscreenchange", () => {
      const on = document.fullscreenElement == ctl.root;
      button.setAttribute("aria-pressed", on);
      ctl.icon(button, on ? "fullscreen-exit" : "fullscreen");
      ctl.emit("fullscreenchange", on);
    });
  }
  button.addEventListener("click", ctl.actions.fullscreen);
}
