"""amps, the Accessible Media Player Service.

The parts, each a package that says what it owns and what it may import (docs/architecture.md
draws them); imports run down this list and never back up (tests/test_architecture.py):

- `cli`, `main` (the factory), `demo`: the ways in;
- `web`: pages, the player's view, static files, the stream/poster/track routes;
- `api`: the JSON API, its errors, auth, limits and the upload receiver;
- `deps`: the app's parts as FastAPI dependencies;
- `library`: a clip's life (upload, probe, store, record, queue its jobs, delete);
- `jobs`: the queue and the work it runs;
- `speech`: captions from a clip's sound (script alignment, cue layout, speech models);
- `media` (what a file holds and what ffmpeg makes of it), `streams` (how bytes leave);
- `catalog` (the records), `storage` (the bytes);
- `config` (settings), `errors` (the one refusal every layer may raise), `metrics` (the
  Prometheus counters every layer adds to).
"""
