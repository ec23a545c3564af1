"""Helpers for browser tests: axe-core, Chromium's accessibility tree, screenshots, emulation.

Everything here takes a Playwright (sync API) `Page`. None of it needs `bypass_csp`: axe-core is
evaluated through the DevTools protocol, which a page's Content-Security-Policy does not govern,
so a strict `script-src 'self'` stays enforced and its violations still fail the test.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, ConsoleMessage, Error, Page

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".cache" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # Hermetic: no name resolves, so nothing reaches the internet (a page must not need it).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
# Context options for "200% zoom" on a 1280x720 window: half the CSS pixels, twice as dense.
ZOOM_200: dict[str, Any] = {"viewport": {"width": 640, "height": 360}, "device_scale_factor": 2}


# --- console and page errors -------------------------------------------------------------------


@dataclass
class ErrorLog:
    """Console errors and uncaught exceptions of every page a test opens; empty at teardown.

    A test that expects an error (a 404 document, a stream that is gone) says so first:
    `page_errors.allow(r"status of 404")`. Anything else, CSP violations included, fails it,
    except Chromium's own request for /favicon.ico (no page asks for it).
    """

    entries: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(
        default_factory=lambda: [re.compile(r"status of 404 .*\(\S+/favicon\.ico:")]
    )

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.entries.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            url = where.get("url", "") if where else ""
            line = where.get("lineNumber", "") if where else ""
            self.entries.append(f"console error: {message.text} ({url}:{line})")

    def unexpected(self) -> list[str]:
        return [e for e in self.entries if not any(p.search(e) for p in self.allowed)]

    def check(self) -> None:
        bad = self.unexpected()
        assert not bad, "the browser reported errors:\n  " + "\n  ".join(bad)


# --- axe-core ----------------------------------------------------------------------------------

_axe_source: str | None = None


def _axe() -> str:
    global _axe_source
    if _axe_source is None:
        assert AXE_JS.is_file(), f"{AXE_JS} is missing: run `make install` (npm ci)"
        _axe_source = AXE_JS.read_text(encoding="utf-8")
    return _axe_source


def run_axe(
    page: Page,
    tags: Sequence[str] = WCAG_TAGS,
    *,
    context: str | dict[str, Any] | None = None,
    rules: dict[str, dict[str, bool]] | None = None,
) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (main frame), limited to `tags`.

    `context` narrows or excludes (axe's context: a selector or {"include": ..., "exclude": ...});
    `rules` switches single rules, e.g. {"color-contrast": {"enabled": False}} (say why).
    Assert with `assert not violations, axe_format(violations)`.
    """
    if not page.evaluate("typeof window.axe === 'object'"):
        # Evaluated over CDP: not subject to the page's CSP (add_script_tag would be blocked).
        page.evaluate(_axe())
    options: dict[str, Any] = {"runOnly": {"type": "tag", "values": list(tags)}}
    if rules:
        options["rules"] = rules
    violations: list[dict[str, Any]] = page.evaluate(
        """async ([context, options]) => {
            const result = await axe.run(context ?? document, options);
            return result.violations;
        }""",
        [context, options],
    )
    return violations


def axe_format(violations: Iterable[dict[str, Any]]) -> str:
    """One paragraph per violation: rule, impact, help URL, then each node's target and summary."""
    lines: list[str] = []
    for v in violations:
        nodes = v.get("nodes", [])
        lines.append(
            f"[{v.get('impact')}] {v['id']}: {v.get('help')} ({len(nodes)} node(s)) "
            f"{v.get('helpUrl', '')}"
        )
        for node in nodes:
            lines.append(f"    target: {' >> '.join(map(str, node.get('target', [])))}")
            html = " ".join(str(node.get("html", "")).split())
            lines.append(f"      html: {html[:200]}")
            summary = str(node.get("failureSummary", "")).strip().replace("\n", "\n        ")
            if summary:
                lines.append(f"        {summary}")
    return "\n".join(lines) if lines else "no violations"


def assert_no_axe_violations(page: Page, tags: Sequence[str] = WCAG_TAGS, **kwargs: Any) -> None:
    violations = run_axe(page, tags, **kwargs)
    assert not violations, f"axe-core on {page.url}:\n{axe_format(violations)}"


# --- Chromium's accessibility tree -------------------------------------------------------------


def ax_tree(page: Page, *, include_ignored: bool = False) -> list[dict[str, Any]]:
    """Every node of the main frame's accessibility tree (CDP Accessibility.getFullAXTree).

    A node is CDP's AXNode: {"nodeId", "role": {"value"}, "name": {"value"}, "value": {...},
    "properties": [{"name", "value": {"value"}}], "ignored", "backendDOMNodeId", ...}.
    Use ax_role/ax_name/ax_value/ax_props to read them.
    """
    cdp = page.context.new_cdp_session(page)
    try:
        nodes: list[dict[str, Any]] = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    return nodes if include_ignored else [n for n in nodes if not n.get("ignored")]


def ax_role(node: dict[str, Any]) -> str:
    return str(node.get("role", {}).get("value", ""))


def ax_name(node: dict[str, Any]) -> str:
    return str(node.get("name", {}).get("value", ""))


def ax_value(node: dict[str, Any]) -> Any:
    """The node's value: for a slider with aria-valuetext, Chromium gives the spoken text."""
    return node.get("value", {}).get("value")


def ax_props(node: dict[str, Any]) -> dict[str, Any]:
    """{"pressed": "true", "focusable": True, "valuetext": "...", "expanded": False, ...}."""
    return {p["name"]: p.get("value", {}).get("value") for p in node.get("properties", [])}


def dom_attributes(page: Page, node: dict[str, Any]) -> dict[str, str]:
    """The HTML attributes of the element behind an AX node (by its backendDOMNodeId)."""
    cdp = page.context.new_cdp_session(page)
    try:
        described = cdp.send("DOM.describeNode", {"backendNodeId": node["backendDOMNodeId"]})
    finally:
        cdp.detach()
    flat = described["node"].get("attributes", [])
    return dict(zip(flat[::2], flat[1::2], strict=True))


def ax_value_text(page: Page, node: dict[str, Any]) -> str:
    """What a screen reader speaks as a range's value: aria-valuetext, else the value.

    Chromium 156's CDP tree does not carry aria-valuetext: its "valuetext" property is the bare
    number for <input type=range> and "" for role=slider, whatever the attribute says. So the
    attribute is read from the element behind the AX node (the same node the tree named).
    """
    text = dom_attributes(page, node).get("aria-valuetext")
    if text is not None:
        return text
    return str(ax_props(node).get("valuetext") or ax_value(node))


def ax_describe(node: dict[str, Any]) -> str:
    """`slider "Seek" value='1 minute 5 seconds of …' {focusable: True, …}` for messages."""
    return f"{ax_role(node)} {ax_name(node)!r} value={ax_value(node)!r} {ax_props(node)}"


def ax_find(
    nodes: Sequence[dict[str, Any]],
    role: str | None = None,
    name: str | re.Pattern[str] | None = None,
) -> list[dict[str, Any]]:
    """Nodes with this role (e.g. "button", "slider", "Video") and name (exact, or a regex)."""
    found = []
    for node in nodes:
        if role is not None and ax_role(node) != role:
            continue
        if isinstance(name, re.Pattern):
            if not name.search(ax_name(node)):
                continue
        elif name is not None and ax_name(node) != name:
            continue
        found.append(node)
    return found


def ax_one(
    page_or_nodes: Page | Sequence[dict[str, Any]],
    role: str | None = None,
    name: str | re.Pattern[str] | None = None,
) -> dict[str, Any]:
    """Exactly one matching node, or an assertion listing what the tree does have."""
    nodes = ax_tree(page_or_nodes) if isinstance(page_or_nodes, Page) else page_or_nodes
    found = ax_find(nodes, role, name)
    if len(found) != 1:
        named = [ax_describe(n) for n in nodes if ax_name(n) or ax_role(n) in ("slider", "button")]
        raise AssertionError(
            f"expected one {role or 'node'} named {name!r}, found {len(found)}; the tree has:\n  "
            + "\n  ".join(named[:80])
        )
    return found[0]


# --- screenshots -------------------------------------------------------------------------------


def screenshot(page: Page, name: str, *, full_page: bool = False, selector: str = "") -> Path:
    """Save a PNG as .cache/screenshots/NAME.png (gitignored) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    path = SCREENSHOTS / f"{safe}.png"
    if selector:
        page.locator(selector).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)
    return path


# --- emulation ---------------------------------------------------------------------------------


def forced_colors(page: Page, active: bool = True) -> None:
    """Windows High Contrast-style forced colours (`@media (forced-colors: active)`)."""
    page.emulate_media(forced_colors="active" if active else "none")


def reduced_motion(page: Page, reduce: bool = True) -> None:
    page.emulate_media(reduced_motion="reduce" if reduce else "no-preference")


def dark_scheme(page: Page, dark: bool = True) -> None:
    page.emulate_media(color_scheme="dark" if dark else "light")


def narrow(page: Page, width: int = 320, height: int = 640) -> None:
    """A phone-sized viewport (reflow at 320 CSS px, WCAG 1.4.10)."""
    page.set_viewport_size({"width": width, "height": height})


def throttle(
    page: Page, download_kbps: float = 400, upload_kbps: float = 200, latency_ms: float = 80
) -> CDPSession:
    """Slow the page's network (CDP Network.emulateNetworkConditions) so seeks send ranges.

    Keep the returned session while the throttle should hold; `unthrottle(session)` ends it.
    """
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": latency_ms,
            "downloadThroughput": download_kbps * 1000 / 8,
            "uploadThroughput": upload_kbps * 1000 / 8,
        },
    )
    return cdp


def unthrottle(cdp: CDPSession) -> None:
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    cdp.detach()


# --- media elements and focus ------------------------------------------------------------------


def media_state(page: Page, selector: str = "video, audio") -> dict[str, Any]:
    """currentTime, duration, readyState, networkState, paused, ended, muted, volume,
    playbackRate, error code and textTracks of the first matching media element."""
    state: dict[str, Any] = page.eval_on_selector(
        selector,
        """m => ({
            currentTime: m.currentTime, duration: m.duration, readyState: m.readyState,
            networkState: m.networkState, paused: m.paused, ended: m.ended, muted: m.muted,
            volume: m.volume, playbackRate: m.playbackRate,
            error: m.error ? m.error.code : null, src: m.currentSrc,
            textTracks: Array.from(m.textTracks || [], t => (
                {kind: t.kind, label: t.label, language: t.language, mode: t.mode})),
        })""",
    )
    return state


def wait_for_media(
    page: Page,
    condition: str,
    selector: str = "video, audio",
    timeout: float = 15,
) -> dict[str, Any]:
    """Wait until a JS condition on the media element `m` holds, e.g. "m.readyState >= 4"."""
    try:
        page.wait_for_function(
            f"() => {{ const m = document.querySelector({selector!r});"
            f" return m && ({condition}); }}",
            timeout=timeout * 1000,
        )
    except Error as error:
        raise AssertionError(
            f"media never satisfied `{condition}` in {timeout} s: {media_state(page, selector)}"
        ) from error
    return media_state(page, selector)


def focus_info(page: Page) -> dict[str, Any]:
    """What has focus (including inside shadow roots) and how its focus indicator is drawn."""
    info: dict[str, Any] = page.evaluate(
        """() => {
            let el = document.activeElement;
            while (el && el.shadowRoot && el.shadowRoot.activeElement) {
                el = el.shadowRoot.activeElement;
            }
            if (!el || el === document.body) return {tag: el ? "body" : null};
            const s = getComputedStyle(el);
            const r = el.getBoundingClientRect();
            return {
                tag: el.tagName.toLowerCase(), id: el.id, className: String(el.className),
                role: el.getAttribute("role"), label: el.getAttribute("aria-label"),
                text: (el.textContent || "").trim().slice(0, 80),
                focusVisible: el.matches(":focus-visible"),
                outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth,
                outlineColor: s.outlineColor, outlineOffset: s.outlineOffset,
                boxShadow: s.boxShadow,
                rect: {x: r.x, y: r.y, width: r.width, height: r.height},
            };
        }"""
    )
    return info


def has_visible_focus(info: dict[str, Any]) -> bool:
    """An outline of at least 2 px, or a box-shadow, on the focused element."""
    outline = info.get("outlineStyle") not in (None, "none") and _px(info.get("outlineWidth")) >= 2
    return outline or info.get("boxShadow") not in (None, "none")


def _px(value: Any) -> float:
    try:
        return float(str(value).removesuffix("px"))
    except ValueError:
        return 0.0
