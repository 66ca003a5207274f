"""Checking an evidence quote against the transcript it claims to come from.

A quote counts when, after folding case, quotes, dashes, punctuation and white space, it stands
inside one turn of the transcript, or across consecutive turns of it. Ellipses in a quote split
it into parts that must each stand, in order. Anything else (a paraphrase, an invented sentence)
is not evidence: the caller drops it and marks the answer unsupported.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_NOISE = re.compile(r"[^\w']+")
MIN_PART = 3  # characters: a quote of "ok" proves nothing


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return " ".join(_NOISE.sub(" ", text).split())


class Transcript:
    """A transcript folded once, so many quotes can be checked against it cheaply."""

    def __init__(self, turns: Sequence[tuple[str, str]]) -> None:
        # Padded, so a part matches whole words only; joined, so a quote may run across turns.
        self._text = " " + " ".join(fold(content) for _, content in turns) + " "

    def supports(self, quote: str | None) -> bool:
        if not quote or not quote.strip():
            return False
        parts = [fold(p) for p in _ELLIPSIS.split(quote.strip().strip('"').strip())]
        parts = [p for p in parts if p]
        if not parts or sum(len(p) for p in parts) < MIN_PART:
            return False
        at = 0
        for part in parts:
            found = self._text.find(f" {part} ", at)
            if found < 0:
                return False
            at = found + len(part) + 1
        return True
