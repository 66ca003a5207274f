"""Reusable business-hours schedules: CRUD per workspace, their open/closed status, campaigns' links."""
