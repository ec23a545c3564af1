"""A newsroom script as words: what each shows in captions, what it is called in the
dictionary, where its sentence and clause end."""

import re
import unicodedata
from dataclasses import dataclass

MAX_SCRIPT_BYTES = 1024 * 1024
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
CLAUSE_END = re.compile(r"[,;:—–][\"'”’)\]]*$")
UNSAYABLE = re.compile(r"[^\w'.-]")
APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


class ScriptError(ValueError):
    """A script we cannot use; str() is a sentence for the person who sent it."""


@dataclass(frozen=True)
class Token:
    """One word of the script: `text` as written (with its punctuation), `key` as spoken."""

    text: str
    key: str
    sentence: int  # index of the sentence it belongs to
    sentence_end: bool
    clause_end: bool


def decode_script(data: bytes) -> str:
    """The script's text, or ScriptError when it is empty, too big or not UTF-8 text."""
    if len(data) > MAX_SCRIPT_BYTES:
        raise ScriptError("The script is larger than 1 MB: send the text of this clip only.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScriptError("The script is not UTF-8 text: save it as plain UTF-8 text.") from None
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text):
        raise ScriptError("The script holds control characters: send plain text only.")
    if not tokenize(text):
        raise ScriptError("The script has no words in it.")
    return text


def spoken_key(word: str) -> str:
    """The dictionary form of a written word: lower case, no surrounding punctuation."""
    word = unicodedata.normalize("NFC", word).translate(APOSTROPHES).lower()
    start, end = 0, len(word)
    while start < end and not word[start].isalnum():
        start += 1
    while end > start and not word[end - 1].isalnum():
        end -= 1
    # Dictionary entries are one token; "(" would read as an alternate pronunciation's number.
    return UNSAYABLE.sub("-", word[start:end])


def tokenize(text: str) -> list[Token]:
    """The script's words in order; punctuation standing alone joins the word before it."""
    tokens: list[Token] = []
    sentence = 0
    for raw in text.split():
        key = spoken_key(raw)
        if not key:
            if tokens:  # a lone dash or quote mark: part of the previous word's text
                last = tokens[-1]
                tokens[-1] = _token(f"{last.text} {raw}", last.key, last.sentence)
                sentence = last.sentence + 1 if tokens[-1].sentence_end else last.sentence
            continue
        tokens.append(_token(raw, key, sentence))
        if tokens[-1].sentence_end:
            sentence += 1
    return tokens


def _token(text: str, key: str, sentence: int) -> Token:
    return Token(
        text, key, sentence, bool(SENTENCE_END.search(text)), bool(CLAUSE_END.search(text))
    )
