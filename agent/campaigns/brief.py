"""The fingerprint of what a draft was written from: the campaign brief and its AI variables.

An approval covers the draft as the approver read it under that brief; when the brief changes
before the send, the executor hands the draft back for review (``agent.send_guard``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def brief_hash(brief: str | None, ai_variables: Mapping[str, str] | None) -> str:
    text = json.dumps({"brief": brief or "", "ai_variables": dict(ai_variables or {})}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
