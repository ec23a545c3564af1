"""A word of a caption with its time in the clip: what aligners and recognisers hand to `cues`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TimedWord:
    """`text` as it will be shown (script's casing and punctuation); `placed` is False when the
    engine could not find the word and its times were interpolated between its neighbours."""

    text: str
    start: float
    end: float
    sentence_end: bool = False
    clause_end: bool = False
    placed: bool = True
