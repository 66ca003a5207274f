"""LangGraph planner that drafts each contact's next outreach."""
