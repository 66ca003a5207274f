"""The end-of-call marker: the text a model ends its last reply on a call with (``voice/system.j2``
asks for it), and the stream filter that strips it from what is spoken.

Its own module because both sides use it: the engine strips it, the offline model says it.
"""

from __future__ import annotations

import re

END_CALL = "[END_CALL]"
_END_RE = re.compile(re.escape(END_CALL), re.IGNORECASE)


class EndCallMarker:
    """Passes text through, holding back what may still turn out to be ``END_CALL`` (or the
    space before it) until the next delta settles it. Text after the marker is dropped."""

    def __init__(self) -> None:
        self.pending = ""
        self.parts: list[str] = []
        self.seen = False

    def feed(self, delta: str) -> str:
        if self.seen:
            return ""
        self.pending += delta
        found = _END_RE.search(self.pending)
        if found:
            self.seen = True
            out, self.pending = self.pending[: found.start()].rstrip(), ""
            return self._emit(out)
        hold = 0
        for size in range(min(len(self.pending), len(END_CALL) - 1), 0, -1):
            if END_CALL.startswith(self.pending[-size:].upper()):
                hold = size
                break
        while hold < len(self.pending) and self.pending[-hold - 1].isspace():
            hold += 1
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(out):]
        return self._emit(out)

    def flush(self) -> str:
        out, self.pending = ("" if self.seen else self.pending.rstrip()), ""
        return self._emit(out)

    def _emit(self, text: str) -> str:
        if text:
            self.parts.append(text)
        return text

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()
