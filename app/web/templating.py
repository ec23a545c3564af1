"""The Jinja2 environment: autoescaped templates, the asset URL helper and time filters."""

from pathlib import Path

from starlette.templating import Jinja2Templates

from app.api.urls import small_poster
from app.media.durations import format_duration, iso_duration
from app.web.assets import Assets

TEMPLATES = Path(__file__).parent / "templates"
SHORTCUTS = [
    (("Space", "K"), "key_play"),
    (("←", "→"), "key_seek_5"),
    (("J", "L"), "key_seek_10"),
    (("↑", "↓"), "key_volume"),
    (("M",), "key_mute"),
    (("C",), "key_captions"),
    (("F",), "key_fullscreen"),
    (("Home", "End"), "key_home_end"),
    (("0", "…", "9"), "key_digits"),
    (("<", ">"), "key_speed"),
    (("?",), "key_help"),
]
CAPTION_OPTIONS = [
    ("caption_size", [("1", "size_medium"), ("0.75", "size_small"), ("1.5", "size_large"),
                      ("2", "size_huge")]),
    ("caption_colour", [("#ffffff", "colour_white"), ("#ffff00", "colour_yellow"),
                        ("#00ffff", "colour_cyan"), ("#00ff00", "colour_green")]),
    ("caption_background", [("rgba(0,0,0,0.8)", "background_translucent"),
                            ("#000000", "background_black"), ("transparent", "background_none")]),
]  # fmt: skip
SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def make_templates(assets: Assets) -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES)
    env = templates.env
    env.autoescape = True
    env.globals.update(
        asset=assets.url, shortcuts=SHORTCUTS, caption_options=CAPTION_OPTIONS, speeds=SPEEDS
    )
    env.globals["player_strings"] = assets.player_literals
    env.filters.update(clock=format_duration, iso=iso_duration, small_poster=small_poster)
    return templates
