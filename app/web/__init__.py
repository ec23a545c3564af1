"""What browsers get: the watch, embed, library and upload pages (Jinja2 templates, one UI
catalogue per language in `locales/`), the player's view of a clip, the page cache, security
headers, static assets with content hashes, oEmbed, and the thin routes that serve a clip's
stream, playable copy, poster and tracks over `app.streams`.

May import everything below it: `app.api` (records, auth, problems), `app.deps`, `app.library`
and the domain packages. Nothing imports `app.web` but `app.main`.
"""
