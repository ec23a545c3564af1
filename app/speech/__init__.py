"""Speech: captions made from a clip's sound. It owns decoding a clip's audio for speech engines
(`audio`), reading a newsroom script into words (`script`), pronunciations the dictionary lacks
(`pronounce`, espeak-ng), aligning a known script to the speech (`align`, pocketsphinx), the
speech models per language and their SHA-256 checks (`models`), the one set of caption layout
rules that turns timed words into WebVTT (`cues`), and a captions track made end to end
(`tracks`).

Imports `app.media` (every ffmpeg run goes through `app.media.probe.run_tool`), `app.config`
and `app.errors`; never HTTP, the queue, the catalog or the library: jobs call it.
"""
