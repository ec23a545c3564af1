// amps embed snippet. On a host page:
//   <div data-amps-id="CLIP_ID"></div>
//   <script src="https://amps.example/static/embed.js" async></script>
// Each such div becomes a titled, lazily loaded, responsive iframe of the clip's player.
// Optional data attributes: data-start, data-captions, data-lang, data-autoplay ("1": muted).
(() => {
  const script = document.currentScript;
  const origin = script ? new URL(script.src).origin : location.origin;
  const ID = /^[A-Za-z0-9_-]{16,32}$/;
  const OPTIONS = ["start", "captions", "lang", "autoplay"];

  function mount(div) {
    const id = div.dataset.ampsId;
    if (div.dataset.ampsMounted || !ID.test(id || "")) return;
    div.dataset.ampsMounted = "1";
    const watch = `${origin}/media/${id}`;
    fetch(`${origin}/oembed?format=json&url=${encodeURIComponent(watch)}`)
      .then((response) => (response.ok ? response.json() : null))
      .catch(() => null)
      .then((info) => div.replaceChildren(frame(id, info, div.dataset)));
  }

  function frame(id, info, data) {
    const iframe = document.createElement("iframe");
    const query = new URLSearchParams();
    for (const name of OPTIONS) if (data[name]) query.set(name, data[name]);
    iframe.src = `${origin}/embed/${id}${query.size ? `?${query}` : ""}`;
    iframe.title = info?.title || "Media player";
    iframe.loading = "lazy";
    iframe.allow = "autoplay; fullscreen; picture-in-picture; encrypted-media";
    iframe.allowFullscreen = true;
    // CSSOM, not a style attribute: allowed under the host page's style-src policy.
    Object.assign(iframe.style, { border: "0", display: "block", width: "100%" });
    if (info?.type === "video") iframe.style.aspectRatio = `${info.width} / ${info.height}`;
    else iframe.style.height = `${info?.height || 200}px`;
    return iframe;
  }

  const mountAll = () => document.querySelectorAll("[data-amps-id]").forEach(mount);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
