"""The SMS opt-out/opt-in classifier and the do-not-call phrases of a call, case by case."""

from __future__ import annotations

import pytest

from agent.inbound.sms import SmsIntent, classify
from agent.voice.dnc import asks_not_to_be_called

OPT_OUT = [
    "STOP", "stop", "Stop", "STOP!!", "stop.", " stop ", "STOPALL", "stopall", "UNSUBSCRIBE", "Unsubscribe",
    "CANCEL", "END", "end", "QUIT", "REVOKE", "OPT OUT", "opt out", "Opt-Out", "OPTOUT", "optout",
    "stop please", "Please stop", "STOP STOP STOP", "Please unsubscribe me", "unsubscribe me please",
    "Stop texting me", "stop sending me messages", "Can you stop sending me these messages?", "I want to stop",
    "I said STOP", "Stop it", "stop now!!!", "opt me out", "remove me", "Remove me from your list",
    "Quit texting me", "cancel my subscription", "STOP 🛑", "stöp", "Stop, thanks", "unsubscribe.",
]
REPLY = [
    "don't stop the delivery, I need it Friday", "Please don't stop", "cancel my appointment",
    "Can I cancel the Tuesday slot?", "the end", "Is this the end of the offer?", "When does the webinar end?",
    "Sounds good, see you then", "What time?", "Stop by the office on Tuesday?", "remove it",
    "Stop. I am not interested and I have told you twice already, do not text",
    "I'll stop in tomorrow at 3pm to pick it up", "YES please", "yes, Tuesday works", "", "   ", "?",
    "Start the process on Monday please", "Who is this?",
]
OPT_IN = ["START", "start", "Start!", "UNSTOP", "unstop", "YES", "yes"]


@pytest.mark.parametrize("text", OPT_OUT)
def test_opt_out_words_alone_or_as_the_clear_intent(text):
    assert classify(text) == SmsIntent.opt_out


@pytest.mark.parametrize("text", REPLY)
def test_a_message_that_merely_contains_a_keyword_is_a_reply(text):
    assert classify(text) == SmsIntent.reply


@pytest.mark.parametrize("text", OPT_IN)
def test_start_words_alone_opt_back_in(text):
    assert classify(text) == SmsIntent.opt_in


DO_NOT_CALL = [
    "Please don't call me again", "don't call me again.", "Do not call this number", "dont call me",
    "Take me off your list", "put me on your do-not-call list", "Stop calling me", "remove my number please",
    "No more calls, please.", "Never call me again", "please remove me from your calling list",
    "I’m busy. Don’t call me again.",
]
FINE_TO_CALL = [
    "Sure, call me tomorrow", "I do not mind if you call me back", "Call me again next week",
    "I don't want to stop my treatment", "Yes I'll be there", "Can you call my wife instead?", "",
]


@pytest.mark.parametrize("text", DO_NOT_CALL)
def test_a_do_not_call_request_is_heard(text):
    assert asks_not_to_be_called(["Hello?", text])


@pytest.mark.parametrize("text", FINE_TO_CALL)
def test_ordinary_answers_are_not_do_not_call(text):
    assert not asks_not_to_be_called([text])
