"""Outreaches (one planned touch of a contact): the queries that read them with their context."""
