"""``render_email`` writes exactly the bytes ``build_email`` would, fast where it can and through
``EmailMessage`` where it cannot."""

from __future__ import annotations

import pytest

from agent.channels import OutboundMessage
from agent.channels.mime import SMTP_POLICY, _render, build_email, render_email

DATE = "Wed, 02 Dec 2026 12:21:50 +0000"
CONFIG = {"from_address": "ann@clinic.example", "from_name": "Ann Lee", "postal_address": "1 Main St, Springfield"}
LONG = ("Our spring product webinar is on May 4 and we kept a seat for you. It runs forty minutes, covers what "
        "shipped this quarter and leaves time for questions.")


def message(**changes) -> OutboundMessage:
    fields = {"outreach_id": "out_1", "idempotency_key": "idk_01abc", "channel": "email", "to": "bo.li@example.com",
              "subject": "A seat at the May 4 webinar", "body": "Hi Bo,\n\nSee you there.\n", "config": CONFIG,
              "unsubscribe_url": "https://overture.example/u/tok_123-abc"}
    return OutboundMessage(**(fields | changes))


FAST = {
    "short ascii lines (7bit)": message(),
    "long lines (quoted-printable)": message(body=f"Hi Bo,\n\n{LONG}\n\nBest,\nThe team"),
    "more than ten lines, long ones": message(body="\n".join([LONG] * 14)),
    "non-ascii short lines (8bit)": message(body="Hola José,\n\n¿Nos vemos el 4 de mayo?"),
    "non-ascii long lines": message(body=f"Grüße! {LONG}"),
    "trailing spaces and dots": message(body="Hi \n.\n..line\nend.  \n\n\n"),
    "a reply-to, no name, no unsubscribe link": message(config={**CONFIG, "from_name": "", "reply_to": "desk@clinic.example"},
                                                       unsubscribe_url=None),
    "no postal address and no link: no footer": message(config={"from_address": "ann@clinic.example"},
                                                        unsubscribe_url=None),
    "CRLF and CR in the body": message(body="one\r\ntwo\rthree"),
    "an empty subject": message(subject=""),
}
SLOW = {
    "a non-ascii name": message(config={**CONFIG, "from_name": "José Núñez"}),
    "a name that needs quotes": message(config={**CONFIG, "from_name": "Lee, Ann"}),
    "a non-ascii subject": message(subject="¿Un asiento?"),
    "an encoded word in the subject": message(subject="=?utf-8?q?hi?="),
    "two spaces in the subject": message(subject="A  seat"),
    "a key with dots": message(idempotency_key="a..b"),
    "a body base64 would be shorter for": message(body="ñ" * 200),
    "a very long subject": message(subject="word " * 300 + "end"),
}


@pytest.mark.parametrize("case", FAST)
def test_the_common_messages_are_written_directly_and_byte_for_byte_the_same(case):
    m = FAST[case]
    fast = _render(m, DATE)
    assert fast is not None, "expected the direct path"
    assert fast == build_email(m, date=DATE).as_bytes(policy=SMTP_POLICY)


@pytest.mark.parametrize("case", SLOW)
def test_the_others_go_through_the_library_and_come_out_the_same(case):
    m = SLOW[case]
    assert _render(m, DATE) is None
    assert render_email(m, date=DATE) == build_email(m, date=DATE).as_bytes(policy=SMTP_POLICY)


def test_without_a_date_it_stamps_the_current_one():
    head = render_email(message()).split(b"\r\n\r\n", 1)[0]
    assert b"\r\nDate: " in head and head.count(b"+0000") == 1
