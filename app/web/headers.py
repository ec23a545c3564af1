"""Security headers on every response: CSP with frame-ancestors, Referrer-Policy, nosniff."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: the player is external modules and one stylesheet.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:{media}; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
# /docs: Swagger UI from amps itself (web/routes/docs.py), started by a static file. Its
# "Try it out" calls our own API (connect-src); its icons are data: URLs in its stylesheet.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)


def security_headers(policy: str) -> dict[str, str]:
    """What every response carries unless it set these itself."""
    return {
        "content-security-policy": policy,
        "referrer-policy": "strict-origin-when-cross-origin",
        "x-content-type-options": "nosniff",
    }


def policy_for(path: str, embed_ancestors: str, media_sources: str = "") -> str:
    """The Content-Security-Policy of the response to `path`; `media_sources`: origins the
    player's media may come from besides ours (the object store, when streams redirect)."""
    if path == "/docs":
        return DOCS_POLICY
    ancestors = embed_ancestors if path.startswith("/embed/") else "'self'"
    media = f" {media_sources}" if media_sources else ""
    return PAGE_POLICY.format(ancestors=ancestors, media=media)


class SecurityHeaders:
    def __init__(
        self, app: ASGIApp, embed_origins: list[str], media_origins: list[str] | None = None
    ) -> None:
        self.app = app
        self.embed_ancestors = " ".join(embed_origins) if embed_origins else "'none'"
        self.media_sources = " ".join(media_origins or [])

    def policy(self, path: str) -> str:
        return policy_for(path, self.embed_ancestors, self.media_sources)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(self.policy(scope["path"]))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
