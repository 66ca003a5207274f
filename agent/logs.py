"""Log lines that carry their request's id and never a secret, as text or JSON (``OVERTURE_LOG_FORMAT``).

Both are done in the log-record factory rather than in a handler's filter, so every record gets
them whichever handler ends up writing it (uvicorn's, dramatiq's, a test's capture): the request
id comes from a context variable the HTTP middleware sets, and the message is rendered and
scrubbed at once — API keys (``ovk_...``), bearer tokens, passwords in URLs, and the literal
values of the secret settings (SMTP URL, webhook secret, provider tokens and keys).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from typing import Any

from pydantic import SecretStr

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("overture_request_id", default="-")
MASK = "***"
_PATTERNS = [
    (re.compile(r"ovk_[A-Za-z0-9_\-]+"), "ovk_" + MASK),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@"), r"\1" + MASK + "@"),
]
_secrets: list[str] = []
_installed = False


def remember_secrets(settings: Any) -> None:
    """The values of the settings typed ``SecretStr`` (and the parts of the SMTP URL) are masked wherever they appear."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            raw = value.get_secret_value()
            values.append(raw)
            match = re.match(r"^[a-z]+://[^:@/]*:([^@/]+)@", raw)
            if match:
                values.append(match.group(1))
    _secrets[:] = sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def install_record_factory() -> None:
    """Once per process: every record gets ``request_id`` and a scrubbed, already-rendered message."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string stays as logging would show it
            return record
        record.msg, record.args = redact(message), None
        return record

    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request_id, message (and the exception, scrubbed)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "request_id": getattr(record, "request_id", "-"), "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(out)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))


def configure(settings: Any) -> dict[str, Any]:
    """Install the factory and answer a ``logging.config`` dict for uvicorn (its loggers use the same format)."""
    remember_secrets(settings)
    install_record_factory()
    formatter = "agent.logs.JsonFormatter" if settings.log_format == "json" else "agent.logs.TextFormatter"
    config = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"overture": {"()": formatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "overture", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
    return config
