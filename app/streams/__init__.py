"""How bytes leave: the RFC 9110 decisions for ranges and conditional requests (`ranges`, the
one place a range is answered), files kept open for the fast path in front of FastAPI
(`open_files`, `fastpath`), objects streamed or redirected from S3 (`objects`), and
`delivery`, which serves a stored key from whichever store holds it, and `signing`, the HMAC
of signed URLs.

Imports `app.catalog`, `app.storage`, `app.config` and `app.metrics` (the fast path counts its
answers); never pages, the API or jobs.
"""
