"""WebVTT and SRT reading, checking and writing (app.media.captions), on text written here."""

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.media.captions import (
    MAX_BYTES,
    MAX_CUE_TEXT,
    MAX_CUES,
    CaptionError,
    Cue,
    cue_plain_text,
    parse_srt,
    parse_track,
    parse_vtt,
    to_vtt,
    track_label,
)

VTT = """WEBVTT - a title
Kind: captions

NOTE written by hand,
over two lines

intro
00:01.000 --> 00:04.000 align:start line:0
<v Roger Bingham>We are in New York City
and it's <i>cold</i>.

01:02:03.500 --> 01:02:05.250
The end.
"""
SRT = """1
00:00:01,000 --> 00:00:02,500
Hello, <i>world</i>.

2
00:00:03,000 --> 00:00:04,000
Second
line
"""
SCRIPT = "<script>alert(1)</script>"


def error_of(data: bytes, filename: str | None = None) -> str:
    with pytest.raises(CaptionError) as caught:
        parse_track(data, filename)
    return str(caught.value)


def test_vtt_times_with_and_without_hours() -> None:
    cues = parse_vtt(VTT)
    assert [(c.start, c.end) for c in cues] == [(1.0, 4.0), (3723.5, 3725.25)]


def test_vtt_identifier_kept() -> None:
    assert [c.identifier for c in parse_vtt(VTT)] == ["intro", None]


def test_vtt_settings_kept() -> None:
    assert parse_vtt(VTT)[0].settings == "align:start line:0"


def test_vtt_unknown_settings_and_regions_dropped() -> None:
    cue = parse_vtt("WEBVTT\n\n00:01.000 --> 00:02.000 region:r1 colour:red size:50%\nHi\n")[0]
    assert cue.settings == "size:50%"


def test_vtt_note_style_and_region_blocks_are_not_cues() -> None:
    text = (
        "WEBVTT\n\nSTYLE\n::cue { color: red }\n\nREGION\nid:r1\n\n"
        "NOTE hi\n\n00:01.000 --> 00:02.000\nA\n"
    )
    assert [c.text for c in parse_vtt(text)] == ["A"]


def test_vtt_multi_line_cue() -> None:
    assert (
        parse_vtt(VTT)[0].text == "<v Roger Bingham>We are in New York City\nand it's <i>cold</i>."
    )


def test_vtt_with_bom_and_crlf() -> None:
    data = codecs.BOM_UTF8 + VTT.replace("\n", "\r\n").encode()
    assert parse_track(data, "captions.vtt") == parse_vtt(VTT)


def test_vtt_cue_right_after_header() -> None:
    cues = parse_vtt("WEBVTT\n00:01.000 --> 00:02.000\nHi\n")
    assert [(c.start, c.text) for c in cues] == [(1.0, "Hi")]


def test_vtt_cues_sorted_by_start() -> None:
    text = "WEBVTT\n\n00:05.000 --> 00:06.000\nB\n\n00:01.000 --> 00:02.000\nA\n"
    assert [c.text for c in parse_vtt(text)] == ["A", "B"]


def test_vtt_cue_may_end_when_it_starts() -> None:
    assert parse_vtt("WEBVTT\n\n00:01.000 --> 00:01.000\nA\n")[0].end == 1.0


def test_srt_times_with_commas() -> None:
    cues = parse_srt(SRT)
    assert [(c.start, c.end) for c in cues] == [(1.0, 2.5), (3.0, 4.0)]


def test_srt_counters_are_not_identifiers() -> None:
    assert [c.identifier for c in parse_srt(SRT)] == [None, None]


def test_srt_multi_line_cue_and_italics() -> None:
    assert [c.text for c in parse_srt(SRT)] == ["Hello, <i>world</i>.", "Second\nline"]


def test_srt_with_bom() -> None:
    assert parse_track(codecs.BOM_UTF8 + SRT.encode(), "subs.srt") == parse_srt(SRT)


def test_srt_in_utf16() -> None:
    assert parse_track(SRT.encode("utf-16"), "subs.srt") == parse_srt(SRT)


def test_srt_in_cp1252() -> None:
    data = "1\r\n00:00:01,000 --> 00:00:02,000\r\nCafé – “quoted”\r\n".encode("cp1252")
    assert parse_track(data, "old.srt")[0].text == "Café – “quoted”"


def test_srt_font_tags_and_position_overrides_dropped() -> None:
    text = '1\n00:00:01,000 --> 00:00:02,000\n{\\an8}<font color="#ff0">Top</font>\n'
    assert parse_srt(text)[0].text == "Top"


def test_srt_missing_blank_line_between_cues() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nA\n2\n00:00:03,000 --> 00:00:04,000\nB\n"
    assert [(c.start, c.text) for c in parse_srt(text)] == [(1.0, "A"), (3.0, "B")]


def test_srt_converted_to_vtt() -> None:
    assert to_vtt(parse_srt(SRT)) == (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:02.500\nHello, <i>world</i>.\n\n"
        "00:00:03.000 --> 00:00:04.000\nSecond\nline\n"
    )


def test_detected_by_content_not_name() -> None:
    assert parse_track(SRT.encode(), "looks.vtt.txt") == parse_srt(SRT)
    assert parse_track(VTT.encode(), "looks.srt") == parse_vtt(VTT)


def test_to_vtt_round_trip() -> None:
    cues = parse_vtt(VTT)
    assert parse_vtt(to_vtt(cues)) == cues


def test_to_vtt_sorts_cues() -> None:
    vtt = to_vtt([Cue(5, 6, "second"), Cue(1, 2, "first")])
    assert vtt.index("first") < vtt.index("second")


def test_to_vtt_drops_blank_lines_inside_a_cue() -> None:
    assert to_vtt([Cue(1, 2, "A\n\nB")]) == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA\nB\n"


def test_script_in_srt_survives_as_text() -> None:
    cue = parse_srt(f"1\n00:00:01,000 --> 00:00:02,000\n{SCRIPT}\n")[0]
    assert cue_plain_text(cue) == SCRIPT
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in to_vtt([cue])
    assert "<script>" not in to_vtt([cue])


def test_script_in_vtt_survives_as_text() -> None:
    cue = parse_vtt(f"WEBVTT\n\n00:01.000 --> 00:02.000\n{SCRIPT}\n")[0]
    assert cue_plain_text(cue) == SCRIPT
    assert "<script>" not in to_vtt([cue])


def test_script_in_hand_made_cue_escaped_on_output() -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in to_vtt([Cue(1, 2, SCRIPT)])


def test_plain_text_drops_tags_and_decodes_entities() -> None:
    markup = "<v.loud Anna>Tom &amp; <c.yellow>Jerry</c></v> <00:00:01.500><b>&lt;3</b> &gt;"
    assert cue_plain_text(Cue(0, 2, markup)) == "Tom & Jerry <3 >"


def test_plain_text_of_lang_and_ruby() -> None:
    markup = "<lang en-GB>colour</lang> <ruby>漢<rt>kan</rt></ruby>"
    assert cue_plain_text(Cue(0, 1, markup)) == "colour 漢kan"


def test_bare_ampersand_and_angle_are_text() -> None:
    cue = parse_vtt("WEBVTT\n\n00:01.000 --> 00:02.000\nAT&T < 3 > 2\n")[0]
    assert cue_plain_text(cue) == "AT&T < 3 > 2"
    assert "AT&amp;T &lt; 3 &gt; 2" in to_vtt([cue])


def test_track_label_names_the_language() -> None:
    assert (track_label("en"), track_label("uk-UA"), track_label("xx-YY")) == (
        "English",
        "Українська",
        "xx-YY",
    )


def test_error_bad_timing_arrow() -> None:
    message = error_of(b"WEBVTT\n\nNOTE x\n\n00:01.000 -> 00:02.000\nA\n")
    assert message.startswith(
        "Line 5: the cue timing `00:01.000 -> 00:02.000` is not `start --> end`"
    )


def test_error_bad_time() -> None:
    message = error_of(b"WEBVTT\n\n00:01.000 --> 00:02\nA\n")
    assert message.startswith("Line 3: `00:02` in `00:01.000 --> 00:02` is not a time")


def test_error_minutes_past_59() -> None:
    assert error_of(b"WEBVTT\n\n00:61.000 --> 01:02.000\nA\n").startswith("Line 3: `00:61.000`")


def test_error_vtt_time_with_comma() -> None:
    assert error_of(b"WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nA\n").startswith("Line 3:")


def test_error_end_before_start() -> None:
    message = error_of(b"1\n00:00:05,000 --> 00:00:02,000\nA\n")
    assert message == "Line 2: the cue ends at 00:00:02.000, before it starts at 00:00:05.000."


def test_error_text_where_timing_should_be() -> None:
    message = error_of(b"WEBVTT\n\n00:01.000 --> 00:02.000\nA\n\nstray words\n")
    assert message.startswith("Line 6: expected a cue timing such as `00:01.000 --> 00:04.000`")


def test_error_empty_file() -> None:
    assert error_of(b"") == "The file is empty."


def test_error_blank_file() -> None:
    assert error_of(codecs.BOM_UTF8 + b"\r\n  \n") == "The file is empty."


def test_error_header_only() -> None:
    assert error_of(b"WEBVTT\n\nNOTE nothing yet\n").startswith("The file has no cues")


def test_error_vtt_name_without_header() -> None:
    message = error_of(b"\n00:01.000 --> 00:02.000\nA\n", "captions.vtt")
    assert message.startswith("Line 2: a WebVTT file starts with `WEBVTT`")


def test_error_bad_header() -> None:
    assert error_of(b"WEBVTTX\n\n00:01.000 --> 00:02.000\nA\n").startswith("Line 1: a WebVTT")


def test_error_binary_junk() -> None:
    assert "not a text file" in error_of(bytes(range(256)) * 4)


def test_error_undecodable_bytes() -> None:
    assert "UTF-8" in error_of(b"1\n00:00:01,000 --> 00:00:02,000\n\x81\x8d\x90\n")


def test_error_file_too_large() -> None:
    assert "2 MiB" in error_of(b"WEBVTT\n\n" + b"x" * MAX_BYTES)


def test_error_cue_text_too_long() -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\n" + "x" * (MAX_CUE_TEXT + 1)
    assert error_of(text.encode()).startswith("Line 3: this cue's text is longer than 5,000")


def test_error_too_many_cues() -> None:
    cue = "00:01.000 --> 00:02.000\nA\n\n"
    message = error_of(("WEBVTT\n\n" + cue * (MAX_CUES + 1)).encode())
    assert message.startswith(f"Line {3 + 3 * MAX_CUES}: a track may hold at most 20,000 cues")


def test_most_cues_allowed() -> None:
    cue = "00:01.000 --> 00:02.000\nA\n\n"
    assert len(parse_track(("WEBVTT\n\n" + cue * MAX_CUES).encode())) == MAX_CUES


def check_parse(data: bytes) -> None:
    """parse_track refuses with a CaptionError or gives cues that survive to_vtt unchanged."""
    try:
        cues = parse_track(data, None)
    except CaptionError as error:
        assert str(error)
        return
    assert cues
    assert all(c.end >= c.start for c in cues)
    assert parse_vtt(to_vtt(cues)) == cues


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    check_parse(data)


TIMING = st.sampled_from(["00:01.000 --> 00:02.000", "00:00:01,000 --> 00:00:02,000", "-->"])
LINE = st.one_of(TIMING, st.sampled_from(["", "WEBVTT", "NOTE", "1", SCRIPT]), st.text(max_size=40))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["WEBVTT\n\n", ""]), st.lists(LINE, max_size=30))
def test_random_lines(header: str, lines: list[str]) -> None:
    check_parse((header + "\n".join(lines)).encode())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([VTT, SRT]), st.data())
def test_truncated_files(text: str, data: st.DataObject) -> None:
    encoded = text.encode("utf-8")
    check_parse(encoded[: data.draw(st.integers(0, len(encoded)))])
