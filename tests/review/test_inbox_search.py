"""The inbox text search through its trigram index (0011_search) answers what the LIKE search
answers: the same data, every query asked both ways through HTTP, the index path and the plain
LIKE path (the index turned off), page and counts compared whole. Then the index follows writes:
an edit, a contact renamed, a contact deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from agent import search
from agent.db import session_scope
from tests.flows import by_name, queue_with_drafts, statements_on

CONTACTS = [
    {"name": "Élodie Durand", "email": "elodie@example.com"},
    {"name": "ÉLODIE Martin", "email": "ELODIE.M@Example.COM"},
    {"name": "Ünal Yılmaz", "email": "unal@example.org"},
    {"name": "Zed 100%_Real", "email": "zed@example.com", "phone": "212 555 0100"},
    {"name": "Yan Po", "email": "yan_po@example.com", "phone": "312 555 0101"},
    {"name": "Ann Lee", "email": "ann@example.com"},
    {"name": "Bo O'Hara", "email": "bo.o@example.com", "phone": "+44 20 7946 0958"},
]

QUERIES = [
    # names: any case, across the first/last boundary, accents as LIKE reads them
    "ann lee", "ANN LEE", "n Le", "élodie", "ÉLODIE", "Élodie", "elodie", "ünal", "ÜNAL", "Yılmaz", "yilmaz",
    "o'hara", "O'H",
    # emails and wildcards taken literally
    "@example.com", "EXAMPLE.COM", "yan_po", "an_p", "100%_", "%_R", "0%", "a_b", "\\", "\\\\x", '"quoted"',
    # phones: as stored, as typed (normalised to E.164), part of a number
    "+12125550100", "(312) 555-0101", "312 555 0101", "5550101", "555", "+44 20 7946 0958", "020 7946 0958",
    # subject and body (the offline model's drafts), and nothing at all
    "webinar", "WEBINAR", "Hi Ann", "nobody-by-this-name", "zz",
    # under three characters: answered without the index
    "a", "É", "_", "%", "%_", "le", "55",
]


async def _page(client, admin, q: str, **params) -> dict:
    r = await client.get("/v1/outreaches", params={"q": q, "limit": 100, **params}, headers=admin)
    assert r.status_code == 200, r.text
    page = r.json()
    for item in page["items"]:  # how long a draft has waited moves on between the two reads
        item.pop("approval_age_s", None)
    return page


async def _both_ways(client, admin, monkeypatch, q: str, **params) -> tuple[dict, dict]:
    indexed = await _page(client, admin, q, **params)
    with monkeypatch.context() as m:
        m.setattr(search, "MIN_INDEXED", 10_000)  # every query through today's LIKE filter alone
        plain = await _page(client, admin, q, **params)
    return indexed, plain


@pytest.fixture
async def seeded(client, admin):
    cid, items = await queue_with_drafts(client, admin, contacts=CONTACTS)
    await queue_with_drafts(client, admin, 3)  # a second campaign, for the campaign filter
    return cid, by_name(items)


async def test_indexed_search_answers_what_the_like_search_answers(client, admin, monkeypatch, seeded):
    cid, _ = seeded
    matched = 0
    for q in QUERIES:
        for params in ({}, {"campaign_id": cid}, {"status": "awaiting_approval,approved,rejected"}):
            indexed, plain = await _both_ways(client, admin, monkeypatch, q, **params)
            assert indexed == plain, (q, params)
        matched += bool(indexed["items"])
    assert matched >= 20  # the queries find things, so the comparison is not of empty pages


async def test_queries_of_three_characters_read_the_index_and_shorter_ones_do_not(client, admin, seeded, settings):
    with statements_on("outreaches") as statements:
        for q, uses_index in (("élo", True), ("lee", True), ("le", False), ("_", False)):
            statements.clear()
            await _page(client, admin, q)
            marker = "contacts_fts MATCH" if settings.db_url.startswith("sqlite") else "UNION"
            assert len(statements) == 2
            assert all((marker in s) == uses_index for s in statements), (q, statements)


async def test_the_index_follows_edits_renames_and_deletes(client, admin, monkeypatch, seeded):
    _, items = seeded
    ann, yan = items["Ann"], items["Yan"]
    r = await client.patch(f"/v1/outreaches/{ann['id']}", json={"subject": "Quarterly Zanzibar offsite",
                                                                 "version": ann["version"]}, headers=admin)
    assert r.status_code == 200, r.text
    async with session_scope() as s:
        await s.execute(text("UPDATE contacts SET last_name = 'Kowalczyk' WHERE first_name = 'Yan'"))
        await s.execute(text("UPDATE contacts SET email = 'moved@example.net' WHERE email = 'bo.o@example.com'"))
    for q, expected in (("zanzibar", {ann["id"]}), ("webinar", None), ("kowalczyk", {yan["id"]}),
                        ("yan po", set()), ("moved@example", {items["Bo"]["id"]}), ("bo.o@", set())):
        indexed, plain = await _both_ways(client, admin, monkeypatch, q)
        assert indexed == plain, q
        if expected is not None:
            assert {i["id"] for i in indexed["items"]} == expected, q
    async with session_scope() as s:  # a contact gone takes its enrollment and drafts with it
        await s.execute(text("DELETE FROM outreaches WHERE id = :id"), {"id": ann["id"]})
    indexed, plain = await _both_ways(client, admin, monkeypatch, "zanzibar")
    assert indexed == plain and indexed["items"] == []


def _fill(url: str, rows: dict) -> None:
    """Write ``rows`` (table name -> one row, as ``tests.test_migrations._rows_at_0002``) at ``url``'s schema now."""
    from agent.models import Base
    from sqlalchemy import insert
    from tests.test_migrations import _as_at, _on

    def fill(conn) -> None:  # noqa: ANN001
        for model_table in Base.metadata.sorted_tables:
            if model_table.name in rows:
                conn.execute(insert(_as_at(conn, model_table.name)).values(rows[model_table.name]))

    _on(url, fill)


def _pending_pages(url: str, names: list[str]) -> dict[str, int]:
    """Each GIN index's pending pages, moved into the index (``gin_clean_pending_list`` answers how many)."""
    from tests.test_migrations import _on

    sql = text("SELECT gin_clean_pending_list(CAST(:i AS regclass))")
    return _on(url, lambda c: {i: c.execute(sql, {"i": i}).scalar() for i in names})


def test_migrating_an_existing_database_indexes_the_rows_already_there(empty_db_url: str) -> None:
    from agent.contacts.repository import query_phone
    from agent.migrate import upgrade
    from agent.models import Outreach
    from sqlalchemy import select
    from tests.test_migrations import _on, _rows_at_0002

    upgrade(empty_db_url, "0009")
    rows = _rows_at_0002()
    rows["contacts"] |= {"first_name": "Grace", "last_name": "Hopper", "phone": "+12125550100"}
    rows["outreaches"] |= {"subject": "Compilers", "body": "Hi Grace"}
    _fill(empty_db_url, rows)
    upgrade(empty_db_url)
    dialect = "sqlite" if empty_db_url.startswith("sqlite") else "postgresql"
    for q in ("ace hop", "COMPILERS", "212) 555-0100", "(212) 555-0100"):
        ids = select(Outreach.id).where(Outreach.id.in_(search.outreach_ids(dialect, q, query_phone(q))))
        assert _on(empty_db_url, lambda c: c.execute(ids).scalars().all()) == ["out"], q


def test_postgresql_search_indexes_keep_no_pending_list(empty_db_url: str) -> None:
    """0017: writes go straight into the trigram indexes (``fastupdate = off``), and the list an
    existing database had is flushed by the upgrade, so a search never reads a pending list.
    ``gin_clean_pending_list`` answers how many pending pages it moved: 0 means there were none.
    The downgrade is the control: with ``fastupdate`` back on, the same writes leave a list."""
    if empty_db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's GIN pending list; SQLite's FTS5 tables have none")
    from agent.migrate import upgrade
    from agent.models import Outreach
    from sqlalchemy import select
    from tests.test_migrations import _downgrade, _on, _rows_at_0002

    names = sorted(search.PG_INDEXES)

    def write(tag: str) -> None:
        def go(conn) -> None:  # noqa: ANN001
            conn.execute(text("UPDATE outreaches SET body = :b"), {"b": f"Body {tag} Zanzibar"})
            conn.execute(text("UPDATE contacts SET first_name = :n"), {"n": f"Name {tag}"})
        _on(empty_db_url, go)

    def options() -> dict[str, list[str] | None]:
        sql = text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:n)")
        return _on(empty_db_url, lambda c: dict(c.execute(sql, {"n": names}).all()))

    upgrade(empty_db_url, "0016")
    rows = _rows_at_0002()
    _fill(empty_db_url, rows)
    write("before")  # fastupdate on (0011's default): these entries wait in the pending list
    upgrade(empty_db_url)
    assert options() == {i: ["fastupdate=off"] for i in names}
    assert _pending_pages(empty_db_url, names) == {i: 0 for i in names}  # the upgrade flushed what 0016 had left
    write("after")
    assert _pending_pages(empty_db_url, names) == {i: 0 for i in names}  # and new writes went to the index proper
    with_index = select(Outreach.id).where(Outreach.id.in_(search.outreach_ids("postgresql", "after zan", None)))
    assert _on(empty_db_url, lambda c: c.execute(with_index).scalars().all()) == ["out"]

    _downgrade(empty_db_url, "0016")
    assert options() == {i: None for i in names}
    write("again")
    assert all(pages > 0 for pages in _pending_pages(empty_db_url, names).values())


def test_a_status_change_writes_nothing_into_the_outreaches_trigram_index(empty_db_url: str) -> None:
    """0018: the outreaches' texts and their trigram index live in ``outreaches_search``, so the
    executor's status changes (claim, sent; non-HOT updates, ``status`` is in B-trees) do not
    re-insert every trigram of the body into the GIN index, as they did with the index on
    ``outreaches``. The pending list is turned on here to count what a write adds to the index:
    nothing for a status change, the new trigrams for an edit of the body (which the search then
    finds), nothing left behind once the outreach is deleted."""
    if empty_db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's trigram index; SQLite's FTS5 table is apart from outreaches already")
    from agent.migrate import upgrade
    from agent.models import Outreach
    from sqlalchemy import select
    from tests.test_migrations import _on, _rows_at_0002

    index = ["ix_outreaches_search_trgm"]
    upgrade(empty_db_url)
    _fill(empty_db_url, _rows_at_0002())
    _on(empty_db_url, lambda c: c.execute(text(f"ALTER INDEX {index[0]} SET (fastupdate = on)")))

    def write(sql: str, **params: str) -> dict[str, int]:
        _on(empty_db_url, lambda c: c.execute(text(sql), params))
        return _pending_pages(empty_db_url, index)

    for status in ("executing", "sent"):
        assert write("UPDATE outreaches SET status = :s, version = version + 1, updated_at = now()", s=status) \
            == {index[0]: 0}, status
    assert write("UPDATE outreaches SET body = :b", b="Hi Zanzibar") == {index[0]: 1}
    found = select(Outreach.id).where(Outreach.id.in_(search.outreach_ids("postgresql", "zanzib", None)))
    assert _on(empty_db_url, lambda c: c.execute(found).scalars().all()) == ["out"]
    write("DELETE FROM outreaches")
    assert _on(empty_db_url, lambda c: c.execute(text("SELECT count(*) FROM outreaches_search")).scalar()) == 0
