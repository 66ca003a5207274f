"""Drafting: render the channel's prompt, ask the model for an ``OutreachDraft``, and teach the
offline model to answer that schema usefully from the prompt's data blocks."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from agent import llm
from agent.channels.rules import SMS_OPT_OUT_LINE, limits_for
from agent.prompting import read_data_blocks, render_chat
from planner.graph import DraftResult
from planner.schemas import OutreachDraft
from planner.state import ChannelFacts, PlanContext

TEMPLATES = {"email": "planner/email.j2", "sms": "planner/sms.j2", "voice": "planner/voice_brief.j2",
             "task": "planner/task.j2"}
_EXCERPT = 400


def prompt_context(ctx: PlanContext, channel: ChannelFacts, feedback: list[str]) -> dict[str, Any]:
    c = ctx.contact
    return {
        "campaign_name": ctx.campaign_name, "brief": ctx.brief, "ai_variables": ctx.ai_variables,
        "goals": [{"name": g["name"], "description": g["description"], "is_primary": g["primary"] == "yes"}
                  for g in ctx.goals],
        "contact": {"first_name": c.first_name, "last_name": c.last_name, "email": c.email, "phone": c.phone,
                    "timezone": c.timezone, "properties": c.properties},
        "history": [{"channel": h.channel, "date": h.scheduled_at, "subject": h.subject,
                     "body_excerpt": h.body[:_EXCERPT], "outcome": h.status} for h in ctx.history],
        "replies": [{"channel": r.channel, "date": r.received_at, "text": r.text[:_EXCERPT], "intent": r.intent}
                    for r in ctx.replies],
        "goal_results": [{"goal": g.name, "is_primary": g.is_primary, "result": g.result, "reason": g.reason}
                         for g in ctx.goal_outcomes],
        "limits": limits_for(channel.kind),
        "instruction": ctx.instruction,
        "validation_errors": list(feedback),
    }


async def draft_with_model(ctx: PlanContext, channel: ChannelFacts, step: int, scheduled_at: dt.datetime,
                           feedback: list[str]) -> DraftResult:
    chat = render_chat("planner/system.j2", TEMPLATES[channel.kind], prompt_context(ctx, channel, feedback))
    result = await llm.complete("planner", chat.messages(), schema=OutreachDraft)
    return DraftResult(draft=result.parsed, model=result.model, prompt_version=chat.version,
                       input_tokens=result.input_tokens, output_tokens=result.output_tokens, cost_usd=result.cost_usd)


# -- the offline model's answer ---------------------------------------------------------------

_CHANNEL = re.compile(r"^# Channel: (\w+)", re.MULTILINE)


def _first_sentence(text: str, limit: int) -> str:
    sentence = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]
    return sentence[:limit].rstrip()


def offline_draft(messages: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    """A plain, deterministic draft built from the campaign brief and the contact's first name.

    Contact data is used only as a name: nothing inside a data block is followed or repeated.
    """
    text = "\n".join(m.get("content") or "" for m in messages if isinstance(m.get("content"), str))
    data = read_data_blocks(text)
    match = _CHANNEL.search(text)
    channel = match.group(1).lower() if match else "email"
    channel = {"manual": "task"}.get(channel, channel)
    contact = data.get("contact") or {}
    raw_name = str(contact.get("first_name") or "").strip()
    # A name is a name: anything that does not look like one is not echoed back.
    name = raw_name if re.fullmatch(r"[^\W\d_][^\W\d_' .-]{0,39}", raw_name) else ""
    greeting = f"Hi {name}," if name else "Hello,"
    campaign = str(data.get("campaign_name") or "our team")[:80]
    purpose = _first_sentence(str(data.get("campaign_brief") or ""), 240) or "We wanted to get in touch."
    if channel == "sms":
        body = f"{greeting} {purpose} Reply here and we will help. {SMS_OPT_OUT_LINE}"
        subject = None
    elif channel == "voice":
        body = (f"Call {name or 'the contact'} on behalf of {campaign}. Goal: {purpose} Introduce yourself, "
                "explain why you are calling, listen, answer questions from the brief only, and offer the next step.")
        subject = None
    elif channel == "task":
        body = f"Reach out to {name or 'the contact'} for {campaign}: {purpose} Log the outcome when done."
        subject = None
    else:
        body = (f"{greeting}\n\n{purpose}\n\nIf it helps, just reply to this email and we will take it from "
                f"there.\n\nBest regards,\n{campaign}")
        subject = f"{campaign}"[:120]
    rationale = (f"Offline model draft for the {channel} channel: it restates the campaign brief in one line and "
                 "addresses the contact by first name; a real model would tailor it further.")
    return {"subject": subject, "body": body, "rationale": rationale}


llm.register_offline_responder("OutreachDraft", offline_draft)
