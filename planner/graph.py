"""The planner as a LangGraph graph: load_context -> check_eligibility -> choose_timing -> draft
-> validate -> route, with validate looping back to draft at most ``MAX_REDRAFTS`` times.

Nodes are small functions over the typed state; IO (database, model) comes in through
``PlannerDeps`` in the run config, so the graph is compiled once and tests swap the IO.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from agent.channels.rules import check_message
from agent.states import EnrollmentStatus, Substatus
from planner import rules
from planner.schemas import OutreachDraft
from planner.state import ChannelFacts, Outcome, PlanContext, PlanState

MAX_REDRAFTS = 2


@dataclass(frozen=True)
class DraftResult:
    draft: OutreachDraft
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


class PlannerDeps(Protocol):
    async def load(self, enrollment_id: str, instruction: str | None) -> PlanContext: ...
    async def draft(self, ctx: PlanContext, channel: ChannelFacts, step: int, scheduled_at: Any,
                    feedback: list[str]) -> DraftResult: ...
    async def route(self, state: PlanState) -> None: ...


def _deps(config: RunnableConfig) -> PlannerDeps:
    return config["configurable"]["deps"]


async def load_context(state: PlanState, config: RunnableConfig) -> dict[str, Any]:
    ctx = await _deps(config).load(state["enrollment_id"], state.get("instruction"))
    return {"context": ctx, "draft_attempts": 0, "feedback": []}


async def check_eligibility(state: PlanState) -> dict[str, Any]:
    ctx = state["context"]
    outcome = rules.eligibility(ctx)
    if outcome is not None:
        return {"outcome": outcome}
    channel = rules.choose_channel(ctx)
    if isinstance(channel, Outcome):
        return {"outcome": channel}
    return {"outcome": None, "channel": channel, "step": ctx.attempts + 1}


async def choose_timing(state: PlanState) -> dict[str, Any]:
    chosen = rules.choose_time(state["context"])
    if isinstance(chosen, Outcome):
        return {"outcome": chosen}
    return {"scheduled_at": chosen}


async def draft(state: PlanState, config: RunnableConfig) -> dict[str, Any]:
    from agent.llm import LLMError  # the model layer imports litellm lazily; keep it off the import path

    try:
        result = await _deps(config).draft(state["context"], state["channel"], state["step"], state["scheduled_at"],
                                           state.get("feedback", []))
    except LLMError as exc:
        return {"outcome": Outcome(EnrollmentStatus.error, Substatus.model_error, f"the model failed: {exc}")}
    return {"draft": result.draft, "model": result.model, "prompt_version": result.prompt_version,
            "input_tokens": state.get("input_tokens", 0) + result.input_tokens,
            "output_tokens": state.get("output_tokens", 0) + result.output_tokens,
            "cost_usd": state.get("cost_usd", 0.0) + result.cost_usd,
            "draft_attempts": state.get("draft_attempts", 0) + 1}


async def validate(state: PlanState) -> dict[str, Any]:
    d = state["draft"]
    violations = check_message(state["channel"].kind, subject=d.subject, body=d.body)
    if not violations:
        return {"feedback": []}
    feedback = [f"{v.field}: {v.message}" for v in violations]
    if state["draft_attempts"] > MAX_REDRAFTS:
        first = violations[0]
        # Rules without a substatus of their own (leftover template, placeholder) mean the model
        # could not produce a usable draft.
        substatus = first.substatus or Substatus.model_error
        return {"feedback": feedback, "draft": None,
                "outcome": Outcome(EnrollmentStatus.error, substatus,
                                   f"the draft still broke the {state['channel'].kind} rules: " + "; ".join(feedback))}
    return {"feedback": feedback}


async def route(state: PlanState, config: RunnableConfig) -> dict[str, Any]:
    await _deps(config).route(state)
    return {}


def _after_gate(following: str) -> Callable[[PlanState], str]:
    return lambda state: "route" if state.get("outcome") is not None else following


def _after_validate(state: PlanState) -> str:
    if state.get("outcome") is not None or not state.get("feedback"):
        return "route"
    return "draft"


def _routed(node: Callable[..., Awaitable[dict[str, Any]]], after: Callable[[PlanState], str]
            ) -> Callable[[PlanState, RunnableConfig], Awaitable[Command]]:
    """``node`` picking the node after it (``after`` of the state it leaves) in its own answer.

    The same choice as a conditional edge, made without one: LangGraph runs an edge's router as
    a runnable of its own (callbacks, config, a task), which was a fifth of the graph's CPU."""
    takes_config = "config" in inspect.signature(node).parameters

    async def run(state: PlanState, config: RunnableConfig) -> Command:
        update = await (node(state, config) if takes_config else node(state))
        return Command(update=update, goto=after({**state, **update}))

    run.__name__ = node.__name__
    return run


def build_graph():  # noqa: ANN201 - a compiled LangGraph
    g = StateGraph(PlanState)
    g.add_node("load_context", load_context)
    g.add_node("check_eligibility", _routed(check_eligibility, _after_gate("choose_timing")),
               destinations=("choose_timing", "route"))
    g.add_node("choose_timing", _routed(choose_timing, _after_gate("draft")), destinations=("draft", "route"))
    g.add_node("draft", _routed(draft, _after_gate("validate")), destinations=("validate", "route"))
    g.add_node("validate", _routed(validate, _after_validate), destinations=("draft", "route"))
    g.add_node("route", route)
    g.add_edge(START, "load_context")
    g.add_edge("load_context", "check_eligibility")
    g.add_edge("route", END)
    return g.compile()


_compiled = None


def graph():  # noqa: ANN201
    """The compiled graph (built once per process)."""
    global _compiled
    if _compiled is None:
        _compiled = build_graph()
    return _compiled
