"""Inbound email: parsing and classifying raw messages (pure), matching them to our outreaches,
and taking them in (the API route and the SMTP receiver share :func:`ingest.ingest_email`)."""

from agent.inbound.email.parse import ParsedEmail, parse_email

__all__ = ["ParsedEmail", "parse_email"]
