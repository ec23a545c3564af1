"""Background work: the queue (`queue`: procrastinate on PostgreSQL, threads in the server on
SQLite) and what each job does (`processing`: check, web-playable rendition, poster, re-probe,
with its retry rules; `webhooks`: signed event deliveries, one attempt per job). One handler per
kind of work; a new kind (captions, a rendition ladder) adds its handler here and its media code
in `app.media` or its own package.

Imports `app.speech`, `app.media`, `app.streams`, `app.catalog`, `app.storage`, `app.config`,
`app.metrics`.
"""
