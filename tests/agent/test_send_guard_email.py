"""The send-time guard's shortcut for plain addresses never accepts one email_validator refuses."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError, validate_email

from agent.send_guard import plainly_valid_email

_PLAIN = ["ann", "lee", "x", "Mail", "clinic", "7", "example", "co", "io", "net"]
_ODD = ["a", "Z", "0", "9", ".", "..", "-", "--", "_", "+", "'", "!", "~", "é", " ", '"', "@", "xn--", "local",
           "localhost", "test", "onion", "com", "org", "a" * 63, "b" * 64, "1", "2"]


def _accepted(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _corpus(n: int) -> list[str]:
    """Random addresses, mostly of plain pieces with odd ones mixed in (so both sides of the
    shortcut's boundary are walked)."""
    rnd = random.Random(11)

    def piece() -> str:
        return rnd.choice(_ODD) if rnd.random() < 0.15 else rnd.choice(_PLAIN)
    out = []
    for _ in range(n):
        local = "".join(piece() for _ in range(rnd.randint(1, 4)))
        domain = ".".join("".join(piece() for _ in range(rnd.randint(1, 2))) for _ in range(rnd.randint(1, 4)))
        out.append(f"{local}@{domain}")
    return out


@pytest.mark.parametrize("address", ["ann.lee@example.com", "a@b.co", "Ann+tag@Mail.Example.ORG",
                                     "o'brien@clinic-7.example.net", "x_y.z@a.io"])
def test_plain_addresses_skip_the_library_and_are_valid(address: str) -> None:
    assert plainly_valid_email(address)
    assert _accepted(address)


@pytest.mark.parametrize("address", ["a..b@x.com", "a.@x.com", "a@localhost", "a@foo.local", "a@x.test",
                                     "a@host.onion", "a@xn--80ak6aa92e.com", "a@1.2", "a@-x.com", "a@x-.com",
                                     "é@x.com", '"a b"@x.com', "a@x", f"{'b' * 65}@x.com", "a@x.c0m"])
def test_anything_unusual_is_left_to_the_library(address: str) -> None:
    assert not plainly_valid_email(address)


def test_no_address_the_library_refuses_passes_the_shortcut() -> None:
    corpus = _corpus(20_000)
    shortcut = [a for a in corpus if plainly_valid_email(a)]
    assert len(shortcut) > 500  # the corpus exercises the shortcut, not only the fallback
    refused = [a for a in shortcut if not _accepted(a)]
    assert refused == []
