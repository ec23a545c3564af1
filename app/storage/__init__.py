"""Where bytes live: the `Storage` protocol with its keys and errors (`base`), files on a local
disk (`local`) and objects in an S3-compatible store (`s3`). Writes are atomic: a pending
upload becomes a key only when committed, and a crash leaves nothing a sweep will not remove.

Imports `app.config` only; knows nothing of clips beyond their id-based keys.
"""
