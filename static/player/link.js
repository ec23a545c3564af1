// How much the reader's connection says it can take (Network Information API; unknown counts
// as fast): "none" with Save-Data or on 2G, "slow" on 3G, else "fast". Quality and the poster
// both choose by it.
export function linkSpeed() {
  const link = navigator.connection || {};
  if (link.saveData || /2g$/.test(link.effectiveType || "")) return "none";
  return link.effectiveType == "3g" ? "slow" : "fast";
}
