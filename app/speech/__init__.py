"""Speech: captions made from a clip's sound. It owns decoding a clip's audio for speech engines
(`audio`), reading a newsroom script into words (`script`), pronunciations the dictionary lacks
(`pronounce`, espeak-ng), aligning a known script to the speech (`align`, pocketsphinx),
recognising speech where there is no script (`recognize`, Whisper through faster-whisper), the
speech models per language and their SHA-256 checks (`models`), timed words (`words`), the one
set of caption layout rules that turns them into WebVTT (`cues`), and a captions track made end
to end, in a child process a job can kill (`tracks`).

Imports `app.media` (every ffmpeg run goes through `app.media.probe.run_tool`) and `app.config`;
never HTTP, the queue, the catalog or the library: jobs call it.
"""
