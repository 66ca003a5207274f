"""Contacts: normalisation, CSV import, dedup and campaign enrollment."""
