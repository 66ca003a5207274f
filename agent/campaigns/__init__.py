"""Campaigns: settings, lifecycle (state machine moves) and CRUD."""
