// Mute: a toggle button (aria-pressed); its name stays "Mute".

export default function mute(ctl) {
  const button = ctl.$('[data-control="mute"]');
  const media = ctl.media;
  const show = () => {
    const muted = media.muted || media.volume == 0;
    button.setAttribute("aria-pressed", muted);
    ctl.icon(button, muted ? "muted" : "volume");
  };
  ctl.actions.mute = () => {
    if (media.muted || media.volume == 0) ctl.setVolume(media.volume || 0.5);
    else media.muted = true;
  };
  button.addEventListener("click", ctl.actions.mute);
  ctl.on("volumechange", show);
  show();
}
