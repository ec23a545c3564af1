"""The JSON API under /api: thin routes over `app.library`, the public schemas and URLs of a
record, RFC 9457 problem responses, the write rule (token or loopback, no cross-site), the
read rule (`access`: private clips need the token or a signed URL),
upload limits and rate, keyset paging, the streaming multipart receiver, and resumable uploads
over tus 1.0.0 (`tus`: the protocol's headers; `resumable`: offsets, locks, expiry).

Imports `app.deps`, `app.library` and the packages below; never `app.web`.
"""
