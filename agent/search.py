"""The inbox's text search through the trigram indexes of migration 0011_search.

A query of :data:`MIN_INDEXED` characters or more is first narrowed through the index (SQLite
FTS5 ``MATCH``, PostgreSQL ``ILIKE`` over the pg_trgm GIN indexes) to the outreaches whose
subject or body, or whose contact's name, email or phone, hold the text; the caller's LIKE
filter then decides among those, so the answer is the LIKE search's. The index only has to find
a superset: its case folding is Unicode-wide where SQLite's LIKE folds ASCII only, the phone
equality is read as the phone containing the normalised number, and the full name holds both
name columns. A shorter query has no trigram to look up and is answered by the LIKE filter alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, column, literal_column, or_, select, table, union

from agent.models import Contact, Enrollment, Outreach

MIN_INDEXED = 3

# What 0011_search creates beside the models (not in ``Base.metadata``): schema comparisons skip them.
# 0017 set ``fastupdate = off`` on the GIN indexes: writes go into the index, not a pending list each search reads.
# 0018 moved the outreaches' texts and their index into a table beside them (``outreaches_search``), so a
# status change of an outreach does not rewrite the index.
SQLITE_TABLES = frozenset({"contacts_fts", "outreaches_fts"})
PG_TABLES = frozenset({"outreaches_search"})
PG_INDEXES = frozenset({"ix_contacts_search_trgm", "ix_outreaches_search_trgm"})


def not_in_models(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic's ``include_name``: false for the search's own tables (and FTS5's shadow tables) and indexes."""
    if type_ == "table" and name is not None:
        return name not in PG_TABLES and not any(name == t or name.startswith(t + "_") for t in SQLITE_TABLES)
    return not (type_ == "index" and name in PG_INDEXES)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _phrase(text: str) -> str:
    """An FTS5 string: the text as one phrase (with the trigram tokenizer, a substring)."""
    return '"' + text.replace('"', '""') + '"'


def _full_name() -> ColumnElement[Any]:
    # Literal ' ' (not a bound parameter) so PostgreSQL matches the index's expression.
    return Contact.first_name.op("||")(literal_column("' '")).op("||")(Contact.last_name)


def indexed(q: str) -> bool:
    return len(q) >= MIN_INDEXED


def outreach_ids(dialect: str, q: str, phone: str | None) -> CompoundSelect:
    """The ids of outreaches that may match ``q`` (a superset of the LIKE search's), read through the index."""
    texts = [q] + ([phone] if phone and phone != q else [])
    contact_rows = select(Enrollment.id).join(Contact, Contact.id == Enrollment.contact_id)
    if dialect == "sqlite":
        fts = " OR ".join(_phrase(t) for t in texts)
        contacts_fts, outreaches_fts = table("contacts_fts"), table("outreaches_fts")
        by_contact = select(literal_column("rowid")).select_from(contacts_fts).where(
            literal_column("contacts_fts").op("MATCH")(fts))
        by_text = select(literal_column("rowid")).select_from(outreaches_fts).where(
            literal_column("outreaches_fts").op("MATCH")(_phrase(q)))
        enrollments = contact_rows.where(literal_column("contacts.rowid").in_(by_contact))
        own = select(Outreach.id).where(literal_column("outreaches.rowid").in_(by_text))
    else:
        like = _like(q)
        enrollments = contact_rows.where(or_(
            _full_name().ilike(like, escape="\\"), Contact.email.ilike(like, escape="\\"),
            *[Contact.phone.ilike(_like(t), escape="\\") for t in texts]))
        texts_of = table("outreaches_search", column("id"), column("subject"), column("body"))
        own = select(texts_of.c.id).where(or_(texts_of.c.subject.ilike(like, escape="\\"),
                                              texts_of.c.body.ilike(like, escape="\\")))
    return union(own, select(Outreach.id).where(Outreach.enrollment_id.in_(enrollments)))
