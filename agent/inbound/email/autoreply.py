"""Auto-replies and out-of-office notices: RFC 3834 and the headers and subjects mail systems
actually send.

RFC 3834's ``Auto-Submitted`` (anything but ``no``) is the standard; Exchange and Outlook say
``X-Auto-Response-Suppress`` / ``X-MS-Exchange-Generated-Message-Source``, older responders
``X-Autoreply``/``X-Autorespond`` and ``Precedence: auto_reply|bulk|junk``; many put the notice
only in the subject, in the language of the sender's mailbox.
"""

from __future__ import annotations

import re
from email.message import Message

# Subject prefixes of the common responders (Outlook, Exchange, Gmail, Apple, Lotus), several languages.
_SUBJECTS = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|auto:|autoreply|out of (the )?office|"
    r"absence|abwesenheit|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|absent|"
    r"respuesta autom[áa]tica|fuera de la oficina|risposta automatica|fuori sede|"
    r"automatisch antwoord|afwezig|automatisk svar|odpowied[źz] automatyczna|vacation|on vacation|"
    r"i am out of|i'm out of|i will be out)",
    re.IGNORECASE)
_PRECEDENCE = {"auto_reply", "bulk", "junk"}


def is_auto_reply(message: Message) -> bool:
    auto_submitted = (message.get("Auto-Submitted") or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Autoresponder"):
        return True
    if (message.get("Precedence") or "").strip().lower() in _PRECEDENCE:
        return True
    if message.get("X-MS-Exchange-Generated-Message-Source"):
        return True
    suppress = (message.get("X-Auto-Response-Suppress") or "").lower()
    if suppress and any(word in suppress for word in ("all", "oof", "autoreply")):
        # Exchange sets it on the notices it generates so they are not answered in turn; ordinary
        # Outlook mail carries no such header.
        return True
    return bool(_SUBJECTS.match(str(message.get("Subject") or "")))
