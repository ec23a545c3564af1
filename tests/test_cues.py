"""Timed words into WebVTT (app.speech.cues): the caption layout rules, on words written here."""

from hypothesis import given, settings
from hypothesis import strategies as st

from app.media.captions import cue_plain_text, parse_vtt
from app.speech.cues import MAX_LINE, Cue, make_cues, split_lines, to_webvtt
from app.speech.script import tokenize
from app.speech.words import TimedWord
from tests.speech import check_cue_rules


def timed(
    text: str, start: float = 0.0, step: float = 0.3, gaps: dict[int, float] | None = None
) -> list[TimedWord]:
    """The words of `text`, one every `step` seconds, a 0.4 s pause after each sentence and
    `gaps[i]` seconds more before word i."""
    words: list[TimedWord] = []
    at = start
    for index, token in enumerate(tokenize(text)):
        at += (gaps or {}).get(index, 0.0)
        words.append(
            TimedWord(token.text, at, at + step * 0.8, token.sentence_end, token.clause_end)
        )
        at += step + (0.4 if token.sentence_end else 0.0)
    return words


def texts(cues: list[Cue]) -> list[str]:
    return [" ".join(cue.lines) for cue in cues]


def test_short_sentences_each_get_a_cue() -> None:
    cues = make_cues(timed("The council met. It approved the budget. Residents may comment."))
    assert texts(cues) == ["The council met.", "It approved the budget.", "Residents may comment."]


def test_long_sentence_breaks_at_its_comma() -> None:
    text = (
        "Spending on public transport will rise by a fifth next year across the region, "
        "while road repairs are delayed until the spring."
    )
    cues = make_cues(timed(text))
    assert len(cues) == 2
    assert cues[0].lines[-1].endswith("region,")
    assert texts(cues)[1].startswith("while road repairs")


def test_without_punctuation_a_pause_is_the_break() -> None:
    words = " ".join(f"w{n}" for n in range(20))  # 9 s of words: too long for one cue
    cues = make_cues(timed(words, step=0.45, gaps={12: 0.5}), clip_end=20)
    assert texts(cues)[0].endswith("w11")
    assert texts(cues)[1].startswith("w12")


def test_a_cue_lasts_at_least_a_second_even_for_one_short_word() -> None:
    cues = make_cues([TimedWord("Yes.", 2.0, 2.2, True)], clip_end=10)
    assert (cues[0].start, cues[0].end) == (2.0, 3.0)


def test_a_short_cue_starts_earlier_when_the_next_follows_at_once() -> None:
    words = [
        TimedWord("Yes.", 2.0, 2.2, True),
        *timed("And then the council moved on to other business.", start=2.3),
    ]
    cues = make_cues(words, clip_end=10)
    check_cue_rules(to_webvtt(cues, "test"))
    assert texts(cues)[0] == "Yes."
    assert (cues[0].start, cues[0].end, cues[1].start) == (1.3, 2.3, 2.3)


def test_no_cue_lasts_more_than_seven_seconds() -> None:
    slow = timed("a b c d e f g h i j k l m n o p", step=1.0)
    cues = make_cues(slow)
    assert all(cue.end - cue.start <= 7.0 for cue in cues)
    assert len(cues) >= 3


def test_lines_are_balanced_and_never_longer_than_42() -> None:
    words = ["The", "mayor", "and", "the", "council", "approved", "the", "budget", "for", "2027."]
    # "The mayor and the council" / "approved the budget for 2027." (26/30), not "... approved
    # the" / "budget for 2027." (34/16): balanced, but a line does not end on an article.
    assert split_lines(words) == ("The mayor and the council", "approved the budget for 2027.")
    assert split_lines(["word"] * 30) is None


def test_a_word_longer_than_a_line_is_cut_into_lines() -> None:
    url = "https://example.org/" + "a" * 70
    cues = make_cues([TimedWord(url, 0.0, 3.0, True)])
    assert "".join(line for cue in cues for line in cue.lines) == url
    assert all(len(line) <= MAX_LINE for cue in cues for line in cue.lines)


def test_webvtt_keeps_the_script_and_escapes_markup() -> None:
    words = timed('She said: "Kyiv <is> cold & dark."')
    vtt = to_webvtt(make_cues(words), "made by a test --> here")
    assert vtt.startswith("WEBVTT\n\nNOTE\nmade by a test -> here\n")
    assert "&lt;is&gt;" in vtt and "&amp;" in vtt
    assert cue_plain_text(parse_vtt(vtt)[0]) == 'She said: "Kyiv <is> cold & dark."'


def test_no_words_no_cues() -> None:
    assert make_cues([]) == []
    assert check_cue_rules(to_webvtt([], "nothing was said")) == []


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


@st.composite
def speech(draw: st.DrawFn) -> list[TimedWord]:
    """Words as people say them: 0.15-0.9 s each, pauses up to 2 s, some punctuation."""
    count = draw(st.integers(1, 80))
    at = draw(st.floats(0, 5))
    words = []
    for _ in range(count):
        at += draw(st.sampled_from([0.0, 0.0, 0.0, 0.05, 0.2, 0.45, 1.2, 2.0]))
        length = draw(st.floats(0.15, 0.9))
        mark = draw(st.sampled_from(["", "", "", "", ",", ".", "?", ";"]))
        text = draw(WORD) + mark
        words.append(TimedWord(text, at, at + length, mark in ".?", mark in ",;"))
        at += length
    return words


@settings(max_examples=300, deadline=None)
@given(speech())
def test_every_rule_holds_on_any_speech(words: list[TimedWord]) -> None:
    cues = make_cues(words, clip_end=words[-1].end + 1.0)
    check_cue_rules(to_webvtt(cues, "random"))
    assert " ".join(w.text for w in words) == " ".join(texts(cues))
