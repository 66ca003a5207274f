"""The text a person wrote in a reply: the body as text (HTML-only mail converted), without the
quoted history, and whether it asks to be removed.

``mail-parser-reply`` splits off the quoted history and the signature by the header lines mail
clients write above a quote ("On ... wrote:", "Am ... schrieb ...:", "Le ... a écrit :", Outlook's
"From: / Sent:" block) in many languages; the conversion of HTML is the stdlib's parser, with
quoted blocks (``<blockquote>``) written as ``>`` lines so the splitter sees them as quotes.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage as _Thread

# The languages whose reply headers are recognised (mail-parser-reply's own set).
LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "da", "sv", "pl", "cs"]
_parser = EmailReplyParser(languages=LANGUAGES)

# A reply that asks to stop hearing from us (the reply's own text, not the quote).
_UNSUBSCRIBE = re.compile(
    r"\b(unsubscribe|remove me|take me off|opt[ -]?out|stop (e-?mailing|contacting|sending)|"
    r"do not (contact|email) me|don't (contact|email) me|no more e-?mails|"
    r"abmelden|austragen|d[ée]sinscri|d[ée]sabonner|darse de baja|dar de baja|cancelar suscripci[óo]n|"
    r"afmelden|uitschrijven|cancellami|disiscriv)",
    re.IGNORECASE)
_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "blockquote"}
_SKIP = {"style", "script", "head", "title"}


class _TextOf(HTMLParser):
    """HTML to plain text: block elements become line breaks, blockquotes become ``>`` lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0
        self.skip = 0

    def _break(self) -> None:
        if self.lines[-1].strip(" >"):
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self._break()
            self.quote += 1
        elif tag in _BLOCKS:
            self._break() if tag != "br" else self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._break()
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = " ".join(data.split())
        if not text:
            return
        if not self.lines[-1]:
            self.lines[-1] = "> " * self.quote
        elif not self.lines[-1].endswith(" "):
            text = " " + text
        self.lines[-1] += text


def html_to_text(html: str) -> str:
    converter = _TextOf()
    converter.feed(html)
    converter.close()
    return "\n".join(line.rstrip() for line in converter.lines).strip()


def body_text(message: EmailMessage) -> str:
    """The plain-text body, or the HTML body as text when there is no plain one."""
    part = message.get_body(preferencelist=("plain",))
    if part is not None:
        return _content(part)
    part = message.get_body(preferencelist=("html",))
    return html_to_text(_content(part)) if part is not None else ""


def reply_text(body: str) -> str:
    """The new text of a reply, without the quoted history and the signature."""
    body = body.replace("\r\n", "\n")
    text = (_parser.parse_reply(text=body) or "").strip()
    if not text or any(line.startswith(">") for line in text.splitlines()):
        # Bottom-posting or interleaving: the quote comes first, the answer below it. Keep the
        # lines that are not quoted, less the "On ... wrote:" line that introduced a quote.
        text = _unquoted(text or body)
    # A rule line Outlook leaves above the quoted header block.
    return re.sub(r"(\n\s*[-_=*]{5,}\s*)+$", "", text).strip()


def _unquoted(text: str) -> str:
    header = _Thread(text="", languages=list(LANGUAGES)).HEADER_REGEX
    lines = text.splitlines()
    kept: list[str] = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            continue
        following = next((n for n in lines[i + 1:] if n.strip()), "")
        if following.lstrip().startswith(">") and header.search(line.strip()):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def asks_to_unsubscribe(text: str) -> bool:
    return bool(_UNSUBSCRIBE.search(text))


def _content(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown or broken charset
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", "replace")
    return content if isinstance(content, str) else content.decode("utf-8", "replace")
