// Picture-in-picture (video only; hidden where the browser or the page does not allow it).

export default function pip(ctl) {
  const button = ctl.$('[data-control="pip"]');
  if (!button) return;
  const media = ctl.media;
  if (!document.pictureInPictureEnabled || media.disablePictureInPicture) {
    button.hidden = true;
    return;
  }
  button.addEventListener("click", () => document.pictureInPictureElement
    ? document.exitPictureInPicture()
    : media.requestPictureInPicture().catch(() => {}));
  ctl.on("enterpictureinpicture", () => button.setAttribute("aria-pressed", true));
  ctl.on("leavepictureinpicture", () => button.setAttribute("aria-pressed", false));
}
