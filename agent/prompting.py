"""Prompt templates on disk (the ``prompts`` package), rendered in a sandbox; a template's
version is the hash of its source and of every template it includes or imports.

Untrusted text (contact fields, inbound messages, anything a user typed) only ever reaches a
prompt as a context value: it is never part of a template's source, so Jinja never evaluates it.
Templates print such values with the ``data`` filter, which writes them as JSON inside a
``<data name="...">`` block; ``<`` and ``>`` are JSON-escaped, so a value can neither close its
block nor carry chat-template tokens such as ``<|im_start|>`` verbatim. The only other things a
template may print are integers (``num`` filter) and its own macros; tests/agent/test_prompting.py
checks every template for this.

Context of the planner's channel templates (``planner/email.j2``, ``sms.j2``, ``voice_brief.j2``,
``task.j2``); every key is required (``StrictUndefined``), the same keys mean the same thing in all:

- ``campaign_name``: str
- ``brief``: str, the campaign brief
- ``ai_variables``: mapping of the campaign's AI variables (JSON-serialisable values)
- ``goals``: list of mappings with ``name``, ``description``, ``is_primary``
- ``contact``: mapping with ``first_name``, ``last_name``, ``email``, ``phone``, ``timezone``,
  ``properties`` (other keys are ignored, so nothing else reaches the model)
- ``history``: previous outreaches to this contact in this campaign, oldest first, each a
  mapping with ``channel``, ``date`` (datetime, date or ISO string), ``subject`` (or None),
  ``body_excerpt`` (cut by the caller, a few hundred characters), ``outcome`` (str or None);
  an empty list for the first outreach
- ``limits``: ``agent.channels.rules.limits_for(channel, ...)``, an object with int attributes
  ``body_max``, ``body_target`` and, read by ``email.j2`` only, ``subject_max``, ``subject_target``
- ``instruction``: str or None, the reviewer's instruction from a reject-and-regenerate
- ``validation_errors``: list of str, why the previous attempt was refused (empty if none)

``planner/system.j2`` uses no context keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, Undefined, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

PROMPTS_PACKAGE = "prompts"
_LABEL = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class Rendered:
    name: str
    text: str
    version: str  # sha256 hex of the sources of the template and everything it includes


@dataclass(frozen=True)
class Chat:
    """A system and a user message rendered from one context, with one version for both."""

    system: Rendered
    user: Rendered

    @property
    def version(self) -> str:
        parts = f"{self.system.name}\0{self.system.version}\0{self.user.name}\0{self.user.version}"
        return hashlib.sha256(parts.encode()).hexdigest()

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system.text}, {"role": "user", "content": self.user.text}]


class Prompts:
    """The templates under ``root``; one sandboxed environment, compiled templates cached.

    Edits on disk are picked up (Jinja's own mtime check), for the text and the version alike.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._env = _environment(FileSystemLoader(self.root))
        self._versions: dict[str, tuple[str, tuple[Callable[[], bool], ...]]] = {}

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        version = self.version(name)
        text = self._env.get_template(name).render(dict(context))
        return Rendered(name=name, text=text, version=version)

    def render_chat(self, system: str, user: str, context: Mapping[str, Any]) -> Chat:
        return Chat(self.render(system, context), self.render(user, context))

    def version(self, name: str) -> str:
        cached = self._versions.get(name)
        if cached is not None and all(uptodate() for uptodate in cached[1]):
            return cached[0]
        sources = self._sources(name)
        digest = hashlib.sha256()
        for template in sorted(sources):
            digest.update(f"{template}\0{sources[template][0]}\0".encode())
        version = digest.hexdigest()
        self._versions[name] = (version, tuple(up for _, up in sources.values() if up is not None))
        return version

    def _sources(self, name: str) -> dict[str, tuple[str, Callable[[], bool] | None]]:
        """The template and, transitively, everything it includes, imports or extends."""
        sources: dict[str, tuple[str, Callable[[], bool] | None]] = {}
        pending = [name]
        while pending:
            current = pending.pop()
            if current in sources:
                continue
            source, _, uptodate = self._env.loader.get_source(self._env, current)  # type: ignore[union-attr]
            sources[current] = (source, uptodate)
            for ref in meta.find_referenced_templates(self._env.parse(source, current)):
                if ref is None:
                    # A computed name could load anything: the version would not cover it.
                    raise TemplateError(f"{current}: includes a template by a computed name")
                pending.append(ref)
        return sources


def data(value: Any, label: str) -> str:
    """``value`` as JSON inside a ``<data name="label">`` block, to be read as data only."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise ValueError(f"data block label must match {_LABEL.pattern}: {label!r}")
    text = json.dumps(value, ensure_ascii=False, indent=2, default=_json_default)
    # '<' and '>' only occur inside JSON strings, where \u003c and \u003e mean the same.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<data name="{label}">\n{text}\n</data>'


_BLOCK = re.compile(r'<data name="([a-z][a-z0-9_]*)">\n(.*?)\n</data>', re.DOTALL)


def read_data_blocks(text: str) -> dict[str, Any]:
    """The data blocks of a rendered prompt, by label (what ``data`` wrote, read back): the
    offline model's responders read their facts this way. A block that is not JSON is skipped."""
    out: dict[str, Any] = {}
    for name, body in _BLOCK.findall(text):
        try:
            out[name] = json.loads(body)
        except ValueError:
            continue
    return out


def pick(value: Any, *keys: str) -> Any:
    """Only ``keys`` of a mapping (or of each mapping in a list), failing on a missing one."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here with its own message
    if isinstance(value, Mapping):
        missing = [k for k in keys if k not in value]
        if missing:
            raise UndefinedError(f"missing {', '.join(map(repr, missing))} in {sorted(value)}")
        return {k: value[k] for k in keys}
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return [pick(item, *keys) for item in value]
    raise TypeError(f"pick expects a mapping or a list of mappings, not {type(value).__name__}")


def num(value: Any) -> str:
    """An integer, with thousands separators; anything else is refused (it may be text)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"num expects an int, not {type(value).__name__}")
    return f"{value:,}"


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # raises under StrictUndefined
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    # No str() fallback: an object's repr could carry anything into the prompt.
    raise TypeError(f"not JSON-serialisable prompt data: {type(value).__name__}")


def _finalize(value: Any) -> Any:
    if value is None:
        raise TypeError("a template printed None; guard optional values with {% if %}")
    return value


def _environment(loader: FileSystemLoader) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_finalize,
    )
    env.filters.update(data=data, pick=pick, num=num)
    return env


def default_root() -> Path:
    root = files(PROMPTS_PACKAGE)
    if not isinstance(root, Path):
        raise RuntimeError(f"the {PROMPTS_PACKAGE} package must be installed as plain files, found {root!r}")
    return root


@cache
def default_prompts() -> Prompts:
    return Prompts(default_root())


def render(name: str, context: Mapping[str, Any]) -> Rendered:
    return default_prompts().render(name, context)


def render_chat(system: str, user: str, context: Mapping[str, Any]) -> Chat:
    return default_prompts().render_chat(system, user, context)
