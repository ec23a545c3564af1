"""Pronunciations for words the dictionary lacks (names like Kyiv, numbers), from espeak-ng.

espeak-ng writes its own phoneme mnemonics (`-x`); they are mapped here to the ARPAbet phones
of the CMU dictionary the English acoustic model was trained with.
"""

import shutil
import subprocess

# espeak-ng's English mnemonics -> ARPAbet. Longest match first when reading.
ESPEAK_TO_ARPABET = {
    "@": "AH", "@L": "AH L", "@2": "AH", "@5": "AH", "3": "ER", "3:": "ER", "a": "AE",
    "a#": "AH", "a2": "AH", "aa": "AA", "A:": "AA", "A@": "AA R", "A#": "AA", "e": "EH",
    "E": "EH", "E2": "EH", "e@": "EH R", "I": "IH", "I2": "IH", "I#": "IH", "i": "IY",
    "i:": "IY", "i@": "IH R", "i@3": "IH R", "0": "AA", "O": "AO", "O:": "AO", "O@": "AO R",
    "o@": "AO R", "oU": "OW", "O2": "AO", "U": "UH", "u:": "UW", "U@": "UH R", "V": "AH",
    "aI": "AY", "aI@": "AY ER", "aI3": "AY ER", "aU": "AW", "aU@": "AW ER", "eI": "EY",
    "OI": "OY", "IR": "IH R", "VR": "AH R", "p": "P", "b": "B", "t": "T", "t#": "T",
    "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "T": "TH", "D": "DH", "s": "S",
    "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "tS": "CH", "dZ": "JH", "m": "M", "n": "N",
    "n-": "N", "N": "NG", "l": "L", "l-": "L", "r": "R", "r-": "R", "w": "W", "j": "Y",
    "x": "K", "?": "",
}  # fmt: skip
IGNORED = set("',%=_:;|!")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_phones(word: str, voice: str = "en-us", timeout: float = 10.0) -> str | None:
    """ARPAbet phones for `word` as espeak-ng would say it; None without espeak-ng."""
    if not espeak_available():
        return None
    done = subprocess.run(
        ["espeak-ng", "-q", "-x", "--sep= ", "-v", voice, "--", word],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return None
    phones = [arpabet(part) for part in done.stdout.split()]
    joined = " ".join(p for p in phones if p)
    return joined or None


def arpabet(mnemonic: str) -> str:
    """One espeak-ng phoneme mnemonic (stress marks and all) as ARPAbet phones."""
    core = "".join(c for c in mnemonic if c not in "',%=")
    if core in ESPEAK_TO_ARPABET:
        return ESPEAK_TO_ARPABET[core]
    stripped = "".join(c for c in core if c not in IGNORED)
    return ESPEAK_TO_ARPABET.get(stripped, "")
