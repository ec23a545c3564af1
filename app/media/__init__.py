"""What a file holds and what ffmpeg makes of it: probing (`probe`, and `quick_probe` for whole
files mutagen reads alone), durations as text and speech, posters and waveforms, web-playable
renditions, WebVTT/SRT parsing. Every ffmpeg/ffprobe run goes through `probe.run_tool`.

Imports `app.catalog` (the `Media` record), `app.storage` and `app.config`; never HTTP, the
queue or the library. New media work (a rendition ladder, a speech engine's audio feed) goes here
when it is about a file; a speech engine itself gets a package of its own beside this one.
"""
