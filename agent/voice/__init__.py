"""The voice assistant: its live-call engine, inbound callers and end-of-call reports."""
