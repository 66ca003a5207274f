"""Drafting: render the channel's prompt, ask the model for an ``OutreachDraft``, and teach the
offline model to answer that schema usefully from the prompt's data blocks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from agent import llm
from agent.channels.rules import limits_for
from agent.prompting import render_chat
from planner.graph import DraftResult
from planner.offline_draft import offline_draft
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


# -- the offline model's answer (planner/offline_draft.py) ------------------------------------

llm.register_offline_responder("OutreachDraft", offline_draft)
