"""The Settings tab's forms over HTTP: channels with their providers and moves, caller numbers,
goals and analyses, and the typed call settings; each change checked against what the API then
reports, each refusal shown on the page with the API's status and the field it is about."""

from __future__ import annotations

import re

import httpx

from agent.states import EnrollmentStatus, Role
from tests.conftest import bearer, make_key
from tests.flows import create, fetch, live_campaign, people
from tests.review.test_inbox_web import signed_in


async def _admin(client) -> tuple[dict[str, str], str]:
    key = await make_key(Role.admin)
    return bearer(key), await signed_in(client, key)


def _settings_section(html: str) -> str:
    return html[html.index('<section id="settings"'):html.index("</section>", html.index('<section id="settings"'))]


async def _get(client, api, path):
    r = await client.get(path, headers=api)
    assert r.status_code == 200, r.text
    return r.json()


async def test_channels_are_added_edited_moved_and_removed_with_the_apis_rules(client):
    api, csrf = await _admin(client)
    cid = (await create(client, api, name="Channels", channels=[{"kind": "email"}]))["id"]
    base = f"/inbox/campaigns/{cid}"
    r = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "sms", "provider": "twilio",
                                                    "from_number": "+14155552671"})
    assert r.status_code == 303 and "notice=channel_added" in r.headers["location"], r.text
    channels = (await fetch(client, api, cid))["channels"]
    assert [(c["kind"], c["config"]) for c in channels] == [
        ("email", {"provider": "sandbox"}), ("sms", {"provider": "twilio", "from_number": "+14155552671"})]
    page = (await client.get(r.headers["location"])).text
    assert "Channel added." in page
    sms = re.search(rf'<li class="item" id="channel-{channels[1]["id"]}".*?</li>', page, re.S).group(0)
    assert 'data-configured="false"' in sms and "set OVERTURE_TWILIO_ACCOUNT_SID" in sms
    assert 'data-configured="true"' in page  # the sandbox email channel needs nothing

    # A field the provider needs, missing: 422, the field named beside its input, the typing kept.
    bad = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "email", "provider": "smtp",
                                                      "postal_address": "1 Main St, Springfield"})
    assert bad.status_code == 422 and "from_address" in bad.text
    assert 'id="channels-add-email-from_address-error"' in bad.text
    assert 'value="1 Main St, Springfield"' in bad.text and 'id="channels-add-email-box" open' in bad.text
    assert len((await fetch(client, api, cid))["channels"]) == 2

    # Edit the email channel's provider and fields.
    email_id = channels[0]["id"]
    r = await client.post(f"{base}/channels/{email_id}/edit", data={
        "csrf": csrf, "provider": "smtp", "from_address": "clinic@example.com", "from_name": "The clinic",
        "postal_address": "1 Main St, Springfield"})
    assert r.status_code == 303, r.text
    email = (await fetch(client, api, cid))["channels"][0]
    assert email["config"] == {"provider": "smtp", "from_address": "clinic@example.com", "from_name": "The clinic",
                               "postal_address": "1 Main St, Springfield"}

    # Starting the twilio channel without its credentials: the lifecycle's refusal, on the page.
    sms_id = (await fetch(client, api, cid))["channels"][1]["id"]
    refused = await client.post(f"{base}/channels/{sms_id}/start", data={"csrf": csrf})
    assert refused.status_code == 409 and "OVERTURE_TWILIO_ACCOUNT_SID" in refused.text
    assert (await fetch(client, api, cid))["channels"][1]["status"] == "ready"
    r = await client.post(f"{base}/channels/{sms_id}/remove", data={"csrf": csrf})
    assert r.status_code == 303
    assert [c["kind"] for c in (await fetch(client, api, cid))["channels"]] == ["email"]


async def test_a_live_campaigns_channels_pause_resume_and_take_a_remarketing_step(client):
    api, csrf = await _admin(client)
    cid = await live_campaign(client, api, contacts=people(2))
    base = f"/inbox/campaigns/{cid}"
    email_id = (await fetch(client, api, cid))["channels"][0]["id"]
    page = (await client.get(base, params={"tab": "settings"})).text
    assert f'id="ch-{email_id}-pause"' in page and f'id="ch-{email_id}-start"' not in page
    assert f'id="channels-{email_id}"' not in page  # no edit form once live
    assert (await client.post(f"{base}/channels/{email_id}/pause", data={"csrf": csrf})).status_code == 303
    assert (await fetch(client, api, cid))["channels"][0]["status"] == "paused"
    assert (await client.post(f"{base}/channels/{email_id}/resume", data={"csrf": csrf})).status_code == 303
    assert (await fetch(client, api, cid))["channels"][0]["status"] == "running"
    # The API's rule: the structure is locked once live.
    locked = await client.post(f"{base}/channels/{email_id}/edit", data={"csrf": csrf, "provider": "sandbox"})
    assert locked.status_code == 409 and "locked once it has gone live" in locked.text
    # Adding on a live campaign is remarketing: the audience is required, then the channel starts ready.
    empty = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "sms"})
    assert empty.status_code == 422 and "audience" in empty.text
    r = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "sms",
                                                    "audience_statuses": [s.value for s in EnrollmentStatus]})
    assert r.status_code == 303, r.text
    channels = (await fetch(client, api, cid))["channels"]
    assert [(c["kind"], c["status"]) for c in channels] == [("email", "running"), ("sms", "ready")]
    unknown = await client.post(f"{base}/channels/{email_id}/explode", data={"csrf": csrf})
    assert unknown.status_code == 422


async def test_numbers_are_added_edited_and_removed(client):
    api, csrf = await _admin(client)
    cid = (await create(client, api, name="Numbers", channels=[{"kind": "voice"}]))["id"]
    base = f"/inbox/campaigns/{cid}"
    numbers = f"/v1/campaigns/{cid}/phone-numbers"
    r = await client.post(f"{base}/numbers", data={"csrf": csrf, "number": "+1 415 555 2671", "friendly_name": "Main",
                                                   "status": "active", "spam_score": "0", "weight": "1"})
    assert r.status_code == 303, r.text
    [row] = (await _get(client, api, numbers))["items"]
    assert (row["number"], row["friendly_name"], row["status"]) == ("+14155552671", "Main", "active")
    again = await client.post(f"{base}/numbers", data={"csrf": csrf, "number": "+14155552671"})
    assert again.status_code == 409 and "already" in again.text.lower()
    bad = await client.post(f"{base}/numbers", data={"csrf": csrf, "number": "12"})
    assert bad.status_code == 422 and 'id="numbers-add-number-error"' in bad.text and 'value="12"' in bad.text
    r = await client.post(f"{base}/numbers/{row['id']}/edit", data={
        "csrf": csrf, "status": "disabled", "spam_score": "12.5", "weight": "3", "friendly_name": "Main",
        "provider_number_id": ""})
    assert r.status_code == 303, r.text
    [row] = (await _get(client, api, numbers))["items"]
    assert (row["status"], row["spam_score"], row["weight"]) == ("disabled", 12.5, 3)
    too_spammy = await client.post(f"{base}/numbers/{row['id']}/edit", data={"csrf": csrf, "spam_score": "200"})
    assert too_spammy.status_code == 422 and f'id="numbers-{row["id"]}-spam-error"' in too_spammy.text
    assert (await _get(client, api, numbers))["items"][0]["spam_score"] == 12.5
    assert (await client.post(f"{base}/numbers/{row['id']}/remove", data={"csrf": csrf})).status_code == 303
    assert (await _get(client, api, numbers))["items"] == []
    gone = await client.post(f"{base}/numbers/{row['id']}/remove", data={"csrf": csrf})
    assert gone.status_code == 404


async def test_goals_and_analyses_are_added_edited_archived_and_restored(client):
    api, csrf = await _admin(client)
    cid = (await create(client, api, name="Goals"))["id"]
    base = f"/inbox/campaigns/{cid}"
    for name in ("Booked a visit", "Asked for a call back"):
        r = await client.post(f"{base}/goals", data={"csrf": csrf, "name": name, "description": "d"})
        assert r.status_code == 303, r.text
    goals = {g["name"]: g for g in (await _get(client, api, f"/v1/campaigns/{cid}/goals"))["items"]}
    first, second = goals["Booked a visit"], goals["Asked for a call back"]
    assert first["is_primary"] and not second["is_primary"]
    twin = await client.post(f"{base}/goals", data={"csrf": csrf, "name": "Booked a visit"})
    assert twin.status_code == 409
    r = await client.post(f"{base}/goals/{second['id']}/edit", data={"csrf": csrf, "name": "Called back",
                                                                    "description": "", "is_primary": "on"})
    assert r.status_code == 303
    assert (await client.post(f"{base}/goals/{first['id']}/archive", data={"csrf": csrf})).status_code == 303
    active = (await _get(client, api, f"/v1/campaigns/{cid}/goals"))["items"]
    assert [(g["name"], g["is_primary"]) for g in active] == [("Called back", True)]
    page = (await client.get(base, params={"tab": "settings"})).text
    assert 'id="archived-goals"' in page and f'id="goals-{first["id"]}-restore"' in page
    assert (await client.post(f"{base}/goals/{first['id']}/restore", data={"csrf": csrf})).status_code == 303
    assert len((await _get(client, api, f"/v1/campaigns/{cid}/goals"))["items"]) == 2
    # Another campaign's goal is not this page's to change.
    other = (await create(client, api, name="Other"))["id"]
    assert (await client.post(f"/inbox/campaigns/{other}/goals/{first['id']}/archive",
                              data={"csrf": csrf})).status_code == 404

    no_options = await client.post(f"{base}/analyses", data={"csrf": csrf, "name": "Preferred day",
                                                             "type": "single_choice", "options": "Monday"})
    assert no_options.status_code == 422 and 'id="analyses-add-options-error"' in no_options.text
    r = await client.post(f"{base}/analyses", data={"csrf": csrf, "name": "Preferred day", "type": "single_choice",
                                                    "options": "Monday\nTuesday\n", "active": "on",
                                                    "scale_min": "1"})  # a rating field of another type is dropped
    assert r.status_code == 303, r.text
    [made] = (await _get(client, api, f"/v1/campaigns/{cid}/analyses"))["items"]
    assert (made["type"], made["options"], made["active"]) == ("single_choice", ["Monday", "Tuesday"], True)
    r = await client.post(f"{base}/analyses/{made['id']}/edit", data={
        "csrf": csrf, "name": "Satisfaction", "type": "rating", "scale_min": "1", "scale_max": "5",
        "options": "Monday\nTuesday"})
    assert r.status_code == 303, r.text
    [edited] = (await _get(client, api, f"/v1/campaigns/{cid}/analyses"))["items"]
    assert (edited["type"], edited["scale_min"], edited["scale_max"], edited["options"], edited["active"]) == (
        "rating", 1, 5, None, False)
    assert (await client.post(f"{base}/analyses/{made['id']}/archive", data={"csrf": csrf})).status_code == 303
    assert (await _get(client, api, f"/v1/campaigns/{cid}/analyses"))["items"] == []
    assert (await client.post(f"{base}/analyses/{made['id']}/restore", data={"csrf": csrf})).status_code == 303
    assert len((await _get(client, api, f"/v1/campaigns/{cid}/analyses"))["items"]) == 1


async def test_every_call_setting_is_a_typed_input_and_a_bad_one_is_named(client):
    api, csrf = await _admin(client)
    cid = (await create(client, api, name="Calls"))["id"]
    base = f"/inbox/campaigns/{cid}"
    page = (await client.get(base, params={"tab": "settings"})).text
    for select in ("amd_mode", "rotation_strategy", "call_interval", "ring_timeout", "retry_interval_unit",
                   "contact_completion_timeout_unit"):
        assert f'<select id="cs-{select}"' in page, select
    for number in ("max_retry_attempts", "spam_threshold", "approval_sla_hours", "retry_interval_value"):
        assert re.search(rf'<input id="cs-{number}"[^>]*type="number"', page, re.S), number
    form = {"csrf": csrf, "name": "Calls", "timezone": "UTC", "retry_interval_value": "3",
            "retry_interval_unit": "hours", "amd_mode": "ml", "rotation_strategy": "weighted",
            "approval_sla_hours": "48"}
    r = await client.post(f"{base}/settings", data=form)
    assert r.status_code == 303, r.text
    got = (await fetch(client, api, cid))["settings"]
    assert (got["retry_interval"], got["amd_mode"], got["rotation_strategy"], got["approval_sla_hours"]) == (
        {"value": 3, "unit": "hours"}, "ml", "weighted", 48)
    assert got["max_retry_attempts"] == 2  # not in the form: kept
    bad = await client.post(f"{base}/settings", data={**form, "amd_mode": "loud", "retry_interval_unit": "weeks"})
    assert bad.status_code == 422
    assert 'id="cs-amd_mode-error"' in bad.text and 'id="cs-retry_interval_unit-error"' in bad.text
    assert (await fetch(client, api, cid))["settings"]["amd_mode"] == "ml"


async def test_forms_need_the_csrf_token_and_an_admin_and_others_see_no_forms(client):
    api, csrf = await _admin(client)
    cid = (await create(client, api, name="Guarded", channels=[{"kind": "email"}]))["id"]
    base = f"/inbox/campaigns/{cid}"
    for path, data in ((f"{base}/goals", {"name": "Forged"}), (f"{base}/numbers", {"number": "+14155552671"}),
                       (f"{base}/channels", {"kind": "sms"})):
        r = await client.post(path, data=data)
        assert r.status_code == 403 and "CSRF" in r.text, path
    assert (await _get(client, api, f"/v1/campaigns/{cid}/goals"))["items"] == []
    assert len((await fetch(client, api, cid))["channels"]) == 1
    admin_page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    assert admin_page.count("<form") > 5
    for role in (Role.viewer, Role.approver):
        async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as other:
            their_csrf = await signed_in(other, await make_key(role))
            page = await other.get(base, params={"tab": "settings"})
            assert page.status_code == 200 and "<form" not in _settings_section(page.text), role
            assert 'id="channel-table"' in page.text  # read-only, not hidden
            r = await other.post(f"{base}/goals", data={"csrf": their_csrf, "name": "Sneaky"})
            assert r.status_code == 403 and "may look but not" in r.text
    assert (await _get(client, api, f"/v1/campaigns/{cid}/goals"))["items"] == []


async def test_the_schedule_card_links_a_saved_schedule_says_open_or_closed_and_unlinks_to_own_hours(client):
    """Hours from a saved schedule (``/v1/schedules``) or the campaign's own, chosen on the tab; the
    card says whether sending hours are open now and when that changes, as the API computes it."""
    api, csrf = await _admin(client)
    cid = (await create(client, api, name="Linked"))["id"]
    base = f"/inbox/campaigns/{cid}"
    always = {d: [{"start": "00:00", "end": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    saved = (await client.post("/v1/schedules", headers=api, json={
        "name": "Front desk", "timezone": "Asia/Kolkata", "business_hours": always})).json()
    never = (await client.post("/v1/schedules", headers=api, json={
        "name": "Closed desk", "timezone": "UTC", "business_hours": {}})).json()
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    assert '<select id="s-schedule" name="schedule_id"' in page
    assert f'<option value="{saved["id"]}"' in page and "Front desk (Asia/Kolkata)" in page

    form = {"csrf": csrf, "name": "Linked", "timezone": "UTC", "schedule_id": saved["id"]}
    assert (await client.post(f"{base}/settings", data=form)).status_code == 303
    got = await fetch(client, api, cid)
    assert (got["schedule_id"], got["effective_schedule"]["source"]) == (saved["id"], "schedule")
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    assert re.search(rf'<option value="{saved["id"]}"\s+selected', page)
    state = re.search(r'<p id="schedule-state"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "Open now" in state and "Front desk" in state
    # The linked schedule's hours are shown, read-only: they are edited on the schedule itself.
    assert re.search(r'<input id="h-mon" name="hours_mon"[^>]*value="00:00-23:59"[^>]*disabled', page)

    assert (await client.post(f"{base}/settings", data={**form, "schedule_id": never["id"]})).status_code == 303
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    state = re.search(r'<p id="schedule-state"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "Closed now" in state and "never opens" in state

    # Back to its own hours: it starts from the schedule it followed, now editable.
    assert (await client.post(f"{base}/settings", data={**form, "schedule_id": ""})).status_code == 303
    got = await fetch(client, api, cid)
    assert got["schedule_id"] is None and got["effective_schedule"]["source"] == "campaign"
    r = await client.post(f"{base}/settings", data={**form, "schedule_id": "", "hours_mon": "09:00-17:00"})
    assert r.status_code == 303
    got = await fetch(client, api, cid)
    assert got["schedule"]["business_hours"]["mon"] == [{"start": "09:00", "end": "17:00"}]
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    assert re.search(r'<input id="h-mon" name="hours_mon"[^>]*value="09:00-17:00"', page)
    assert not re.search(r'<input id="h-mon"[^>]*disabled', page)

    gone = await client.post(f"{base}/settings", data={**form, "schedule_id": "sch_nope"})
    assert gone.status_code in (404, 422) and "schedule" in gone.text.lower()
    assert (await fetch(client, api, cid))["schedule_id"] is None


async def test_a_completed_campaign_offers_remarketing_shows_the_audience_and_starts_it_again(client):
    """Issue 14 part 5: the tab offers a remarketing channel on a completed campaign, shows what
    starting it does to its audience (reopened, excluded and why), and its start reactivates."""
    from agent.models import Enrollment
    from tests.builders import set_enrollments

    api, csrf = await _admin(client)
    cid = await live_campaign(client, api, contacts=people(3))
    base = f"/inbox/campaigns/{cid}"
    listed = (await _get(client, api, f"/v1/campaigns/{cid}/contacts"))["items"]
    first, second = sorted(listed, key=lambda e: e["contact"]["first_name"])[:2]
    await set_enrollments(Enrollment.id == first["id"], status="finished", substatus="no_response")
    await set_enrollments(Enrollment.id == second["id"], status="finished", substatus="opted_out")
    assert (await client.post(f"/v1/campaigns/{cid}/complete", headers=api)).status_code == 200
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    assert 'id="remarketing-help"' in page and "campaign is completed" in page
    assert 'id="channels-add-sms-audience"' in page
    r = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "sms", "audience_statuses": ["finished"]})
    assert r.status_code == 303, r.text
    sms = (await fetch(client, api, cid))["channels"][1]
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    audience = re.search(rf'<p class="small remarketing-audience" id="ch-{sms["id"]}-audience"[^>]*>(.*?)</p>',
                         page, re.S)
    assert audience and 'data-contacts="2" data-reopen="1"' in audience.group(0)
    assert re.search(r'data-reason="opted_out">opted out 1<', audience.group(1))
    assert "suppressed" not in audience.group(1)  # a reason with no one is not shown
    assert f'id="ch-{sms["id"]}-start"' in page
    assert (await client.post(f"{base}/channels/{sms['id']}/start", data={"csrf": csrf})).status_code == 303
    got = await fetch(client, api, cid)
    assert got["status"] == "active" and got["channels"][1]["status"] == "running"
    statuses = {e["id"]: e["status"] for e in (await _get(client, api, f"/v1/campaigns/{cid}/contacts"))["items"]}
    assert (statuses[first["id"]], statuses[second["id"]]) == ("waiting", "finished")


async def test_a_cancelled_campaign_offers_no_new_channel(client):
    api, _ = await _admin(client)
    cid = await live_campaign(client, api, contacts=people(1))
    assert (await client.post(f"/v1/campaigns/{cid}/cancel", headers=api)).status_code == 200
    page = _settings_section((await client.get(f"/inbox/campaigns/{cid}", params={"tab": "settings"})).text)
    assert "Add a channel" not in page and 'id="channels-add-sms"' not in page


# --- the remarketing audience picker: by goal result, by pasted ids, counted before adding -------------

async def _remarketable(client):
    """The remarketing tests' campaign (Ann achieved the primary goal, Bob did not, both finished;
    Cara replied; two untouched), signed in as an admin."""
    from tests.e2e.test_remarketing import _campaign

    api, csrf = await _admin(client)
    cid, who = await _campaign(client, api)
    return api, csrf, cid, who


async def _audience_of(channel_id: str) -> set[str]:
    from tests.e2e.test_remarketing import _audience

    return await _audience(channel_id)


async def test_the_remarketing_form_picks_by_goal_result_and_counts_the_audience_before_adding(client):
    api, csrf, cid, who = await _remarketable(client)
    base = f"/inbox/campaigns/{cid}"
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    boxes = re.search(r'<fieldset id="channels-add-sms-goal-results">.*?</fieldset>', page, re.S).group(0)
    assert re.findall(r'name="audience_goal_results" value="(\w+)"', boxes) == [
        "achieved", "partially_achieved", "not_achieved", "unknown"]
    assert 'formaction="/inbox/campaigns/' + cid + '/channels/audience" id="channels-add-sms-count"' in page

    # Counting adds nothing; it shows the form as it was, with the number beside it.
    form = {"csrf": csrf, "kind": "sms", "audience_goal_results": ["not_achieved", "achieved"]}
    counted = await client.post(f"{base}/channels/audience", data=form)
    assert counted.status_code == 200, counted.text
    assert re.search(r'id="channels-add-sms-audience-count" role="status" data-contacts="2"', counted.text)
    assert 'id="channels-add-sms-box" open' in counted.text
    assert re.search(r'value="not_achieved"\s+checked', counted.text)
    narrowed = await client.post(f"{base}/channels/audience", data={**form, "audience_statuses": ["finished"],
                                                                    "audience_goal_results": ["not_achieved"]})
    assert 'data-contacts="1"' in narrowed.text
    assert len((await fetch(client, api, cid))["channels"]) == 1

    r = await client.post(f"{base}/channels", data={**form, "audience_statuses": ["finished"],
                                                    "audience_goal_results": ["not_achieved"]})
    assert r.status_code == 303, r.text
    sms = (await fetch(client, api, cid))["channels"][1]
    assert (sms["kind"], sms["status"]) == ("sms", "ready")
    assert await _audience_of(sms["id"]) == {who["bob"]["id"]}
    # A value the API does not take is named beside the goal results, never a 500.
    bad = await client.post(f"{base}/channels", data={**form, "audience_goal_results": ["maybe"]})
    assert bad.status_code == 422 and 'id="channels-add-sms-audience_goal_results-error"' in bad.text
    assert len((await fetch(client, api, cid))["channels"]) == 2


async def test_the_remarketing_form_takes_pasted_contact_ids_one_a_line_or_comma_separated(client):
    api, csrf, cid, who = await _remarketable(client)
    base = f"/inbox/campaigns/{cid}"
    ann, cara = who["ann"]["contact"]["id"], who["cara"]["contact"]["id"]
    pasted = f"  {ann}\r\n\r\n{cara}, {ann},\n"  # blank lines, spaces and a repeat are forgiven
    counted = await client.post(f"{base}/channels/audience", data={"csrf": csrf, "kind": "email",
                                                                   "audience_contact_ids": pasted})
    assert counted.status_code == 200 and 'id="channels-add-email-audience-count"' in counted.text
    assert 'data-contacts="2"' in counted.text and f"{cara}, {ann}" in counted.text  # the paste is kept
    r = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "email", "audience_contact_ids": pasted})
    assert r.status_code == 303, r.text
    email = (await fetch(client, api, cid))["channels"][1]
    assert await _audience_of(email["id"]) == {who["ann"]["id"], who["cara"]["id"]}
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    assert f'id="ch-{email["id"]}-audience" data-contacts="2"' in page


async def test_a_contact_id_not_in_the_campaign_is_named_beside_the_field_and_nothing_is_added(client):
    api, csrf, cid, who = await _remarketable(client)
    base = f"/inbox/campaigns/{cid}"
    pasted = f"{who['ann']['contact']['id']}\nct_nobody, <b>ct_ghost</b>"
    for path in ("channels", "channels/audience"):
        r = await client.post(f"{base}/{path}", data={"csrf": csrf, "kind": "email", "audience_contact_ids": pasted})
        assert r.status_code == 422, (path, r.text)
        beside = re.search(r'<span class="field-error" id="channels-add-email-audience_contact_ids-error"[^>]*>(.*?)</span>',
                           r.text, re.S)
        assert beside, path
        # Each unknown id, as the API names them (unknown_contacts), escaped; the known one is not named.
        assert "not enrolled: ct_nobody" in beside.group(1) and "not enrolled: &lt;b&gt;ct_ghost&lt;/b&gt;" in beside.group(1)
        assert who["ann"]["contact"]["id"] not in beside.group(1)
        assert "2 contact id(s) are not in this campaign" in r.text
        assert re.search(r'<textarea id="channels-add-email-contact-ids"[^>]*aria-invalid="true"', r.text)
        assert "ct_nobody, &lt;b&gt;ct_ghost&lt;/b&gt;</textarea>" in r.text  # what was pasted, to mend
    too_many = ",".join(f"ct_{i}" for i in range(10_001))
    r = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "email", "audience_contact_ids": too_many})
    assert r.status_code == 422 and 'id="channels-add-email-audience_contact_ids-error"' in r.text
    assert len((await fetch(client, api, cid))["channels"]) == 1


async def test_goal_results_need_a_primary_goal_and_only_admins_add_or_count(client):
    api, csrf = await _admin(client)
    cid = await live_campaign(client, api, contacts=people(2))  # no goal at all
    base = f"/inbox/campaigns/{cid}"
    page = _settings_section((await client.get(base, params={"tab": "settings"})).text)
    assert 'id="channels-add-sms-no-primary-goal"' in page and 'id="channels-add-sms-goal-results"' not in page
    forged = await client.post(f"{base}/channels", data={"csrf": csrf, "kind": "sms",
                                                         "audience_goal_results": ["unknown"]})
    assert forged.status_code == 409 and "no primary goal" in forged.text
    body = {"kind": "sms", "audience_statuses": ["not_started"]}
    assert (await client.post(f"{base}/channels/audience", data=body)).status_code == 403  # no CSRF token
    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as other:
        their_csrf = await signed_in(other, await make_key(Role.viewer))
        for path in ("channels", "channels/audience"):
            r = await other.post(f"{base}/{path}", data={**body, "csrf": their_csrf})
            assert r.status_code == 403 and "may look but not" in r.text and "data-contacts" not in r.text, path
    assert len((await fetch(client, api, cid))["channels"]) == 1
