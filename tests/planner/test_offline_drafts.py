"""Issue 14 part 6: the offline model's drafts read like messages, through the real planning path:
the brief's instruction is never pasted at the recipient, the properties the brief names are used,
the subject is not the campaign's name, a reviewer's instruction changes the draft visibly, and
the draft stays labelled offline."""

from __future__ import annotations

from tests.builders import outreach_row
from tests.conftest import drain_queue
from tests.flows import queue_with_drafts

BRIEF = ("Remind patients whose last visit was over six months ago to book their annual check-up. "
         "Be warm and brief, mention their clinic, and offer to book a slot.")
MARIA = {"first_name": "Maria", "last_name": "Gonzalez", "email": "maria@example.com", "phone": "+12125550101",
         "properties": {"clinic": "Midtown", "last_visit": "2026-05-02", "insurance": "Acme Gold"}}


async def _draft(client, admin, channel: str = "email", brief: str = BRIEF, contact=MARIA, name="Annual check-up reminders"):
    _, [item] = await queue_with_drafts(client, admin, contacts=[contact], channels=(channel,), brief=brief, name=name)
    return item


async def test_an_email_draft_speaks_to_the_patient_not_to_the_planner(client, admin):
    d = await _draft(client, admin)
    body, subject = d["body"], d["subject"]
    assert body.startswith("Hi Maria,")
    assert "Remind patients" not in body and "whose" not in body and "their" not in body.lower().split()
    assert "This is a friendly reminder to book your annual check-up." in body
    assert "Would you like us to book a slot for you?" in body
    assert subject and subject != "Annual check-up reminders" and "book your annual check-up" in subject
    row = await outreach_row(d["id"])
    assert row.model == "overture/offline" and row.rationale.startswith("Offline model draft")


async def test_the_draft_uses_the_properties_the_brief_names_and_only_those(client, admin):
    body = (await _draft(client, admin))["body"]
    assert "Midtown as your clinic" in body and "2 May 2026 as your last visit" in body
    assert "Acme Gold" not in body  # the brief never mentions insurance


async def test_an_sms_draft_is_a_text_to_the_contact(client, admin):
    d = await _draft(client, admin, channel="sms")
    assert d["subject"] is None and d["body"].startswith("Hi Maria, This is a friendly reminder")
    assert "Remind patients" not in d["body"] and d["body"].endswith("Reply STOP to opt out.")


async def test_an_invitation_brief_becomes_an_invitation(client, admin):
    d = await _draft(client, admin, brief="Invite customers to the spring product webinar on May 4 and offer a seat.",
                     name="Spring webinar")
    assert "We'd love to invite you to the spring product webinar on May 4." in d["body"]
    assert "Invite customers" not in d["body"] and d["subject"] != "Spring webinar"


async def test_a_reject_with_instruction_gives_a_visibly_different_draft(client, admin):
    old = await _draft(client, admin)
    r = await client.post(f"/v1/outreaches/{old['id']}/reject", headers=admin,
                          json={"reason": "Too long", "regenerate": True, "instruction": "Make it shorter and more formal."})
    assert r.status_code == 200, r.text
    await drain_queue()
    new = [i for i in (await client.get("/v1/outreaches", headers=admin,
                                         params={"campaign_id": old["campaign_id"]})).json()["items"]
           if i["id"] != old["id"]][0]
    row = await outreach_row(new["id"])
    assert row.body != old["body"] and len(row.body) < len(old["body"])
    assert row.body.startswith("Dear Maria Gonzalez,") and "Kind regards," in row.body
    assert "Would you like us to book a slot" not in row.body  # shorter: the extra paragraph went
    assert "reviewer" in row.rationale and row.model == "overture/offline"


async def test_any_instruction_changes_the_wording(client, admin):
    old = await _draft(client, admin)
    await client.post(f"/v1/outreaches/{old['id']}/reject", headers=admin,
                      json={"regenerate": True, "instruction": "Lead with the date, May 4."})
    await drain_queue()
    items = (await client.get("/v1/outreaches", headers=admin, params={"campaign_id": old["campaign_id"]})).json()
    new = next(i for i in items["items"] if i["id"] != old["id"])
    assert new["body"] != old["body"] and new["subject"] != old["subject"]
    assert "Lead with the date" not in new["body"]  # the reviewer's words are for the writer, not the patient
