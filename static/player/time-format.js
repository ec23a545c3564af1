// The one JS place for time as text; the rules of app/media/durations.py and app/web/i18n.py.

const whole = (s) => (isFinite(s) && s > 0 ? Math.floor(s + 1e-6) : 0);
const parts = (s) => {
  const t = whole(s);
  return [(t / 3600) | 0, ((t / 60) | 0) % 60, t % 60];
};
const pad = (n) => String(n).padStart(2, "0");

/** `0:05`, `3:25`, `1:02:03`. */
export function clock(seconds) {
  const [h, m, s] = parts(seconds);
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** ISO 8601 duration for `<time datetime>`: `PT3M25S`. */
export function iso(seconds) {
  const [h, m, s] = parts(seconds);
  const text = "PT" + (h ? h + "H" : "") + (m ? m + "M" : "");
  return text + (s || text == "PT" ? s + "S" : "");
}

const rules = {};

/** "3 minutes 25 seconds", in the catalogue's language (CLDR plurals). */
export function spoken(seconds, catalogue) {
  const { lang, units, joiner = " " } = catalogue;
  const plural = (rules[lang] ||= new Intl.PluralRules(lang));
  const unit = (name, n) => {
    const forms = units[name];
    return (forms[plural.select(n)] || forms.other).replace("{n}", n);
  };
  const [h, m, s] = parts(seconds);
  const words = [["hour", h], ["minute", m], ["second", s]]
    .filter(([, n]) => n)
    .map(([name, n]) => unit(name, n));
  return words.join(joiner) || unit("second", 0);
}

/** A cue's time to the millisecond: `0:01.250`, `1:02:03.500` (app/media/durations.py's
 * format_cue_time). */
export function cueClock(seconds) {
  const ms = isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : 0;
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60;
  const s = Math.floor(ms / 1000) % 60, frac = String(ms % 1000).padStart(3, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}.${frac}` : `${m}:${pad(s)}.${frac}`;
}
