"""Channel rules for messages: each at its boundary, SMS segment counting, leftovers."""

from __future__ import annotations

import pytest

from agent.states import ChannelKind, Substatus
from agent.channels.rules import (
    CONNECTION_MESSAGE_MAX,
    EMAIL_BODY_MAX,
    EMAIL_SUBJECT_MAX,
    GSM7_BASIC,
    REQUIRED_PARTS,
    SMS_BODY_MAX,
    SMS_OPT_OUT_LINE,
    TASK_BODY_MAX,
    TASK_SUBJECT_MAX,
    VOICE_BRIEF_MAX,
    RuleCode,
    RuleProblem,
    SmsSegments,
    carries_sms_opt_out,
    check_message,
    limits_for,
    sms_segments,
)

SUBJECT = "A faster month-end close at Acme"
BODY = ("Hi Dana,\n\nWe're hosting a 30-minute webinar on automating the month-end close on 12 September. "
        "Would you like a seat?\n\nBest,\nMaya")


def codes(violations: list[RuleProblem]) -> list[str]:
    return [v.code.value for v in violations]


@pytest.mark.parametrize(("channel", "subject"), [("email", SUBJECT), ("sms", None), ("voice", None),
                                                  ("task", "Call Dana about the webinar"), ("task", None)])
def test_a_clean_draft_has_no_violations(channel, subject):
    assert check_message(channel, subject=subject, body=BODY) == []
    assert check_message(ChannelKind(channel), subject=subject, body=BODY, connection_style=True) == []


def test_an_unknown_channel_is_an_error():
    with pytest.raises(ValueError):
        check_message("fax", subject=None, body=BODY)


@pytest.mark.parametrize("channel", list(ChannelKind))
@pytest.mark.parametrize("body", ["", "   ", "\n\t ", "\u200b\u200d\ufeff "])
def test_an_empty_body_is_refused_on_every_channel(channel, body):
    violations = check_message(channel, subject=SUBJECT, body=body)
    assert codes(violations) == ["empty_message"]
    assert violations[0].field == "body" and violations[0].substatus is Substatus.empty_message


@pytest.mark.parametrize("subject", [None, "", "  \n"])
def test_an_email_needs_a_subject(subject):
    violations = check_message("email", subject=subject, body=BODY)
    assert codes(violations) == ["missing_subject"]
    assert violations[0].field == "subject" and violations[0].substatus is Substatus.missing_subject


@pytest.mark.parametrize("channel", list(ChannelKind))
def test_the_required_parts_table_is_what_is_checked(channel):
    assert "body" in REQUIRED_PARTS[channel]
    assert limits_for(channel).subject_required is ("subject" in REQUIRED_PARTS[channel])
    expected = ["missing_subject"] if "subject" in REQUIRED_PARTS[channel] else []
    assert codes(check_message(channel, subject=None, body=BODY)) == expected


def test_subject_and_body_are_passed_by_name():
    # Both are strings; by position a caller could swap them without a type checker noticing.
    with pytest.raises(TypeError):
        check_message("email", SUBJECT, BODY)  # type: ignore[misc]


def test_only_email_needs_a_subject():
    for channel in ["sms", "voice", "task"]:
        assert check_message(channel, subject=None, body=BODY) == []


@pytest.mark.parametrize(("channel", "limit"), [("email", EMAIL_SUBJECT_MAX), ("task", TASK_SUBJECT_MAX)])
def test_subject_limit_at_its_boundary(channel, limit):
    assert check_message(channel, subject="s" * limit, body=BODY) == []
    violations = check_message(channel, subject="s" * (limit + 1), body=BODY)
    assert codes(violations) == ["subject_too_long"]
    assert violations[0].field == "subject" and violations[0].substatus is None
    assert f"{limit + 1} characters; the limit is {limit}" in violations[0].message


def test_email_subject_limit_is_150():
    assert EMAIL_SUBJECT_MAX == 150 and limits_for("email").subject_target == 120


@pytest.mark.parametrize(("channel", "limit"), [("email", EMAIL_BODY_MAX), ("sms", SMS_BODY_MAX),
                                                ("voice", VOICE_BRIEF_MAX), ("task", TASK_BODY_MAX)])
def test_body_limit_at_its_boundary(channel, limit):
    subject = SUBJECT if channel == "email" else None
    assert check_message(channel, subject=subject, body="a" * limit) == []
    violations = check_message(channel, subject=subject, body="a" * (limit + 1))
    assert codes(violations) == ["message_too_long"]
    assert violations[0].field == "body" and violations[0].substatus is Substatus.message_too_long


def test_the_limits_are_the_issues_numbers():
    assert (SMS_BODY_MAX, VOICE_BRIEF_MAX, TASK_BODY_MAX, CONNECTION_MESSAGE_MAX) == (1600, 4000, 4000, 1900)
    assert limits_for("sms").body_target == 320


@pytest.mark.parametrize("channel", ["email", "voice", "task"])
def test_connection_style_messages_stop_at_1900_characters(channel):
    subject = SUBJECT if channel == "email" else None
    assert check_message(channel, subject=subject, body="a" * 1900, connection_style=True) == []
    violations = check_message(channel, subject=subject, body="a" * 1901, connection_style=True)
    assert codes(violations) == ["message_too_long"]
    assert "connection-style message has 1901 characters; the limit is 1900" in violations[0].message
    assert check_message(channel, subject=subject, body="a" * 1901) == []  # only when marked


def test_connection_style_never_loosens_the_sms_limit():
    assert limits_for("sms", connection_style=True).body_max == SMS_BODY_MAX


def test_too_long_sms_reports_its_segments():
    [violation] = check_message("sms", subject=None, body="a" * 1601)
    assert "11 GSM-7 SMS segments" in violation.message
    [violation] = check_message("sms", subject=None, body="é" * 1000 + "ü" * 600 + "✓")
    assert "24 UCS-2 SMS segments" in violation.message


# -- SMS segments ----------------------------------------------------------------------------

def test_the_gsm7_alphabet_has_127_characters_besides_escape():
    assert len(GSM7_BASIC) == 127


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("", "GSM-7", 0, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("a" * 1530, "GSM-7", 1530, 10),
    ("a" * 1600, "GSM-7", 1600, 11),
    ("Ça coûte 5€ à Zürich? Ñ, ß, Δ, ¿, @, £", "UCS-2", 38, 1),  # û is not GSM-7
    ("Ça coute 5€ à Zürich? Ñ, ß, Δ, ¿, @, £", "GSM-7", 39, 1),  # € takes two septets
    ("€" * 80, "GSM-7", 160, 1),
    ("€" * 81, "GSM-7", 162, 2),
    ("[]{}" * 40, "GSM-7", 320, 3),
    ("é" * 160, "GSM-7", 160, 1),  # é is in the GSM alphabet
    ("á" * 70, "UCS-2", 70, 1),  # á is not
    ("á" * 71, "UCS-2", 71, 2),
    ("á" * 134, "UCS-2", 134, 2),
    ("á" * 135, "UCS-2", 135, 3),
    ("Thanks \u2019", "UCS-2", 8, 1),  # a curly apostrophe switches the whole message
    ("👋" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
    ("👋" * 36, "UCS-2", 72, 2),
])
def test_sms_segments_gsm7_and_ucs2(text, encoding, units, segments):
    assert sms_segments(text) == SmsSegments(encoding, units, segments)


# -- SMS opt-out line ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "carries"), [
    (f"Hi Dana, seats are open. {SMS_OPT_OUT_LINE}", True),
    ("Text STOP to unsubscribe.", True),
    ("Hi Dana, seats are open.", False),
    ("Don't stop believing.", False),  # the keyword carriers act on is STOP in capitals
    ("NONSTOP webinars all week.", False),
])
def test_an_sms_opt_out_line_is_recognised(text, carries):
    assert carries_sms_opt_out(text) is carries


def test_an_sms_without_an_opt_out_line_is_still_accepted():
    # Knowing the line is not enforcing it: drafts without it have always passed.
    assert not carries_sms_opt_out(BODY) and check_message("sms", subject=None, body=BODY) == []


# -- leftovers -------------------------------------------------------------------------------

@pytest.mark.parametrize("fragment", ["{{ first_name }}", "{{first_name}}", "{% if vip %}", "{# note #}",
                                      "{{ contact.first_name", "{%- endif -%}"])
def test_unrendered_template_syntax_is_refused(fragment):
    violations = check_message("sms", subject=None, body=f"Hi {fragment}, see you at the webinar.")
    assert codes(violations) == ["unrendered_template"]
    assert violations[0].substatus is None and fragment[:12] in violations[0].message


def test_unrendered_template_syntax_in_the_subject_is_refused():
    violations = check_message("email", subject="Hi {{ first_name }}", body=BODY)
    assert codes(violations) == ["unrendered_template"] and violations[0].field == "subject"


@pytest.mark.parametrize("placeholder", ["[First Name]", "[Company]", "[first_name]", "[INSERT LINK]",
                                         "{first_name}", "{First Name}", "${name}", "<NAME>", "<First Name>",
                                         "<company_name>", "XXX", "XXXX", "*|FNAME|*", "%FIRSTNAME%"])
def test_leftover_placeholders_are_refused(placeholder):
    violations = check_message("email", subject=SUBJECT,
                               body=f"Hi {placeholder},\n\nJoin us on 12 September.\n\nMaya")
    assert codes(violations) == ["placeholder_left"]
    assert violations[0].field == "body" and placeholder in violations[0].message
    assert violations[0].substatus is None


def test_placeholder_in_the_subject_is_refused():
    violations = check_message("email", subject="Quick question, [First Name]", body=BODY)
    assert codes(violations) == ["placeholder_left"] and violations[0].field == "subject"


@pytest.mark.parametrize("text", [
    "Reply to Maya <maya@ledgerly.test> or see <https://ledgerly.test/webinar>.",
    "Line one<br>line two",
    "As noted [sic] in the report [1], savings were 20% to 30%.",
    "Thanks so much, xxx",
    "Box 10X or the XL plan; TEXXXAS is a word.",
])
def test_ordinary_text_is_not_a_placeholder(text):
    assert check_message("sms", subject=None, body=text) == []


def test_many_problems_are_all_reported_subject_first():
    violations = check_message("email", subject="x" * 151 + " [Company]",
                               body="{{ greeting }} [First Name] " + "a" * 10_000)
    assert codes(violations) == ["subject_too_long", "placeholder_left", "message_too_long",
                                 "unrendered_template", "placeholder_left"]
    assert [v.field for v in violations] == ["subject", "subject", "body", "body", "body"]


def test_template_fragments_are_not_counted_again_as_placeholders():
    assert codes(check_message("sms", subject=None, body="Hi {{ name }} and {{name}}")) == ["unrendered_template"]


def test_long_lists_of_leftovers_are_summarised():
    [violation] = check_message("sms", subject=None, body="[A] [B] [C] [D] [E] [A]")
    assert "'[A]', '[B]', '[C]' and 2 more" in violation.message


def test_violations_are_frozen_values():
    violation = check_message("sms", subject=None, body="")[0]
    with pytest.raises(AttributeError):
        violation.code = RuleCode.message_too_long  # type: ignore[misc]
    assert violation == RuleProblem(RuleCode.empty_message, "body", "The message body is empty.")
