"""What the offline model says: deterministic answers, with no network, clock or randomness.

Asked for a JSON schema, it answers with JSON valid for that schema. A responder registered for
the schema's title (``register_offline_responder("OutreachDraft", fn)``) builds the object from
the messages; otherwise ``example_for_schema`` fills the schema generically (defaults, the first
or a keyword-matched enum option, bounds respected, ``$ref``/``$defs`` and ``anyOf`` resolved).
Without a schema it gives a short acknowledgement of the last user message that repeats none of
that message's words, so nothing a contact wrote is ever echoed back or obeyed.

This module is plain Python; ``agent.llm.provider`` plugs it into litellm.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

Responder = Callable[[list[dict[str, Any]], dict[str, Any]], Any]

_responders: dict[str, Responder] = {}
# Recursive schemas (a node with child nodes) stop growing past this depth.
_MAX_DEPTH = 8


def register_offline_responder(title: str, fn: Responder | None = None) -> Any:
    """Answer schemas titled ``title`` with ``fn(messages, schema) -> dict``; usable as a decorator.

    ``fn`` must be deterministic. ``example_for_schema(schema, messages)`` gives it a valid base
    object to adjust.
    """
    if fn is None:
        return lambda f: register_offline_responder(title, f)
    _responders[title] = fn
    return fn


def unregister_offline_responder(title: str) -> None:
    _responders.pop(title, None)


def text_of(message: dict[str, Any]) -> str:
    """A message's text, whether its content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message)
    return ""


def count_words(messages: list[dict[str, Any]]) -> int:
    return sum(len(text_of(m).split()) for m in messages)


# -- answers ---------------------------------------------------------------------------------

def reply(messages: list[dict[str, Any]], response_format: dict[str, Any] | None = None) -> str:
    """The offline model's whole answer to ``messages``."""
    schema = _requested_schema(response_format)
    if schema is not None:
        return json.dumps(answer_for_schema(schema, messages, _schema_name(response_format)))
    text = acknowledgement(last_user_text(messages))
    if response_format and response_format.get("type") == "json_object":
        return json.dumps({"reply": text})
    return text


def answer_for_schema(schema: dict[str, Any], messages: list[dict[str, Any]], name: str | None = None) -> Any:
    title = schema.get("title") or name
    responder = _responders.get(title) if title else None
    if responder is not None:
        return responder(messages, schema)
    return example_for_schema(schema, messages)


def _requested_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if not response_format or response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _schema_name(response_format: dict[str, Any] | None) -> str | None:
    return ((response_format or {}).get("json_schema") or {}).get("name")


_OPT_OUT = {"stop", "unsubscribe", "remove", "opt", "optout"}
_GREETING = {"hi", "hello", "hey", "morning", "afternoon", "evening"}
_THANKS = {"thanks", "thank", "thx", "cheers"}


def acknowledgement(text: str) -> str:
    """A polite, fixed sentence chosen by what kind of message ``text`` is; it quotes nothing."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    if not words:
        return "Hello, thanks for taking the time. How can I help you today?"
    if words & _OPT_OUT or {"not", "interested"} <= words:
        return "Understood. I'm sorry for the interruption, and I'll make sure we don't contact you again."
    if "?" in text:
        return "That's a good question. I'll make sure the right person follows up with a clear answer."
    if words & _THANKS:
        return "You're very welcome. Let me know if there's anything else I can do."
    if words & _GREETING and len(words) <= 4:
        return "Hi there, thanks for getting back to me. How are you doing today?"
    return "Thanks for your message. I've noted it, and someone from our team will follow up soon."


# -- generic JSON from a JSON schema ---------------------------------------------------------

def example_for_schema(schema: dict[str, Any], messages: list[dict[str, Any]] | None = None) -> Any:
    """A value valid for ``schema`` (pydantic's ``model_json_schema`` dialect), deterministically.

    Enum options named in the last user message win over the first option. Not attempted:
    ``pattern``, ``uniqueItems`` across generated items, ``not``, ``if``/``then``.
    """
    hint = last_user_text(messages or []).lower()
    return _Builder(schema, hint).build(schema, "value", 0)


class _Builder:
    def __init__(self, root: dict[str, Any], hint: str):
        self.root = root
        self.hint = hint

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"offline model cannot resolve external $ref {ref!r}")
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            # Keywords beside a $ref (a description, a default) apply too.
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = {**self.resolve(part), **merged}
            schema = merged
        return schema

    def build(self, schema: dict[str, Any] | bool, name: str, depth: int) -> Any:
        if schema is True or schema == {}:
            return None
        if schema is False:
            raise ValueError("offline model cannot satisfy a false schema")
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "default" in schema:
            return schema["default"]
        if "enum" in schema:
            return self.pick(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.build(self.branch(schema[key], depth), name, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            if not non_null or (depth >= _MAX_DEPTH and "null" in kind):
                return None
            kind = non_null[0]
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else None
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind == "string":
            return self.string(schema, name)
        if kind in ("integer", "number"):
            return self.number(schema, integer=kind == "integer")
        if kind == "boolean":
            return False
        return None

    def branch(self, options: list[Any], depth: int) -> Any:
        resolved = [self.resolve(o) if isinstance(o, dict) else o for o in options]
        is_null = [isinstance(o, dict) and o.get("type") == "null" for o in resolved]
        # The first real option keeps answers useful; past the depth limit null ends recursion.
        if depth >= _MAX_DEPTH and any(is_null):
            return {"type": "null"}
        for option, null in zip(options, is_null):
            if not null:
                return option
        return {"type": "null"}

    def pick(self, options: list[Any]) -> Any:
        found = []
        for index, option in enumerate(options):
            if isinstance(option, str) and option:
                words = re.escape(option.lower()).replace("_", "[ _-]")
                match = re.search(rf"(?<![a-z0-9]){words}(?![a-z0-9])", self.hint)
                if match:
                    found.append((match.start(), index))
        return options[min(found)[1]] if found else options[0]

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        out = {}
        for key, sub in props.items():
            # Past the depth limit only what is required is built, which ends most recursion.
            if depth >= _MAX_DEPTH and key not in required:
                continue
            out[key] = self.build(sub, key, depth + 1)
        return out

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if prefix:
            return [self.build(item, name, depth + 1) for item in prefix]
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = low if depth >= _MAX_DEPTH else max(low, 1)
        if high is not None:
            count = min(count, int(high))
        items = schema.get("items", {})
        return [self.build(items, name, depth + 1) for _ in range(count)]

    def string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        value = _FORMATS.get(fmt) if fmt else None
        if value is None:
            if schema.get("examples"):
                value = str(schema["examples"][0])
            else:
                label = re.sub(r"[_\W]+", " ", name).strip().capitalize() or "Value"
                value = f"{label} (offline)"
        low = int(schema.get("minLength", 0))
        while len(value) < low:
            value = f"{value} {value}"
        high = schema.get("maxLength")
        return value[: int(high)] if high is not None else value

    def number(self, schema: dict[str, Any], integer: bool) -> int | float:
        lo, lo_open = schema.get("minimum"), False
        if "exclusiveMinimum" in schema:
            lo, lo_open = schema["exclusiveMinimum"], True
        hi, hi_open = schema.get("maximum"), False
        if "exclusiveMaximum" in schema:
            hi, hi_open = schema["exclusiveMaximum"], True
        step = schema.get("multipleOf")
        if integer:
            start = (math.floor(lo) + 1 if lo_open else math.ceil(lo)) if lo is not None else None
            end = (math.ceil(hi) - 1 if hi_open else math.floor(hi)) if hi is not None else None
            value = start if start is not None else min(0, end) if end is not None else 0
            if step:
                value = math.ceil(value / step) * int(step)
            return int(value)
        if lo is not None and hi is not None:
            value = (lo + hi) / 2
        elif lo is not None:
            value = lo + 1 if lo_open else lo
        elif hi is not None:
            value = min(0, hi - 1) if hi_open else min(0, hi)
        else:
            value = 0
        if step:
            value = math.ceil(value / step) * step
        return float(value)


_FORMATS = {
    "email": "someone@example.com",
    "idn-email": "someone@example.com",
    "date-time": "2000-01-01T00:00:00Z",
    "date": "2000-01-01",
    "time": "00:00:00",
    "duration": "PT0S",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
}
