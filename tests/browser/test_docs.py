"""/docs works offline: Swagger UI comes from amps itself, under the strict CSP."""

import re
from urllib.parse import urlsplit

import httpx2 as httpx
from playwright.sync_api import Page, Route

from tests.browser.helpers import ErrorLog, screenshot
from tests.e2e.conftest import Server


def close_the_network(page: Page) -> list[str]:
    """Abort every request that is not to 127.0.0.1; the list of those it aborted."""
    blocked: list[str] = []

    def route(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", route)
    return blocked


def test_docs_render_the_operations_with_the_network_closed(
    page: Page, browser_server: Server, page_errors: ErrorLog
) -> None:
    blocked = close_the_network(page)
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))

    response = page.goto(f"{browser_server.url}/docs")
    assert response is not None and response.ok

    upload = page.locator(
        ".opblock-post",
        has=page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/media$")),
    )
    upload.first.wait_for(state="visible", timeout=15_000)
    assert upload.first.locator(".opblock-summary-method").inner_text() == "POST"
    assert page.locator(".opblock").count() >= 10, "the operations list is incomplete"
    screenshot(page, "docs-offline")
    assert not blocked, f"/docs asked for outside resources: {blocked}"
    assert not violations, violations  # page_errors fails on any other console error


def test_docs_headers_allow_no_inline_script_and_no_outside_origin(
    browser_server: Server,
) -> None:
    response = httpx.get(f"{browser_server.url}/docs", timeout=10)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    assert not re.search(r"https?:|//", policy), f"the CSP names an outside origin: {policy}"
    assert "<script>" not in response.text, "an inline script is back"
    scripts = re.findall(r'<script src="([^"]+)"', response.text)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', response.text)
    assert len(scripts) == 2 and len(styles) == 1, response.text
    for url in scripts + styles:
        assert url.startswith("/"), f"{url} is not served by amps"
        asset = httpx.get(f"{browser_server.url}{url}", timeout=10)
        assert asset.status_code == 200, url
        assert "immutable" in asset.headers["cache-control"], url
    assert httpx.get(f"{browser_server.url}/redoc", timeout=10).status_code == 404
