"""What Twilio tells us after a text: delivery status callbacks and customers' replies (the
webhook, ``dispatch.notify.webhook``, passes them on), and the opt-outs they make.

A number is opted out when the customer replies STOP (or another of Twilio's opt-out words),
when a delivery callback says it is unsubscribed (Twilio error 21610), or when sending to it was
refused as unsubscribed or invalid (``sending``); START opts it back in. Opt-outs are kept by
``phone_key``: one spelling per number.
"""

from __future__ import annotations

import logging

from dispatch.logs import mask_phone
from dispatch.notify.claims import Claims, key_part
from dispatch.notify.health import IntegrationLog
from dispatch.notify.sms import CUSTOMER_SIDE, UNSUBSCRIBED

log = logging.getLogger("dispatch.notify")

#: Replies that unsubscribe a number, and that subscribe it again (Twilio's standard keywords).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES", "OPTIN"})
#: Delivery statuses that mean the text did not reach the phone.
UNDELIVERED = frozenset({"failed", "undelivered"})
#: How far along each status is: a late callback never moves a message back.
STATUS_RANK = {"accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4, "failed": 5}
STATUS_RANK |= {"undelivered": 5, "delivered": 5, "receiving": 5, "received": 5, "read": 6, "canceled": 6}


def phone_key(phone: str) -> str:
    """One spelling per number for opt-outs: digits only, a 10-digit (North American) number with
    its country code 1 when written without a "+" ("(303) 555-0199", "+1 303 555 0199" and
    "+13035550199" are one number; "+64 9 123 4567" stays New Zealand's)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip().startswith("+"):
        return digits
    return "1" + digits if len(digits) == 10 else digits


def phone_keys(phone: str) -> tuple[str, ...]:
    """``phone_key`` and, where it differs, the key written before 2026-12-02 (ten digits after a
    "+" took a North American 1): an opt-out stored under it still counts, and START lifts both."""
    key = phone_key(phone)
    digits = "".join(ch for ch in phone if ch.isdigit())
    legacy = "1" + digits if len(digits) == 10 else digits
    return (key,) if legacy == key else (key, legacy)


def status_key(sid: str) -> str:
    """Where the last delivery status of the message ``sid`` is kept."""
    return f"dispatch:sms:status:{sid}"


class Replies:
    """Delivery statuses and opt-outs, kept in ``claims``; undelivered texts counted in ``integrations``."""

    def __init__(self, claims: Claims, integrations: IntegrationLog) -> None:
        self.claims = claims
        self.integrations = integrations

    def delivery(self, sid: str, status: str, error_code: int, to: str) -> None:
        """A status callback: record the message's delivery status (never going back: callbacks can
        come out of order); a text that did not reach the phone counts as an error in the
        integration log; an unsubscribed number is opted out."""
        key = status_key(sid)
        held = self.claims.get(key)
        if held is not None and STATUS_RANK.get(held.split(":", 1)[0], 0) > STATUS_RANK.get(status, 0):
            return
        self.claims.set(key, f"{status}:{error_code}" if error_code else status)
        if status in UNDELIVERED:
            code = f" {error_code}" if error_code else ""
            if error_code not in CUSTOMER_SIDE:  # an unreachable handset is not Twilio failing
                self.integrations.record("twilio", ok=False, latency=0.0, error=f"delivery {status}{code}")
            log.warning("text %s to %s not delivered: %s%s", sid, mask_phone(to), status, code)
            if error_code == UNSUBSCRIBED and to:
                self.claims.opt_out(phone_key(to))
        else:
            log.debug("text %s: %s", sid, status)

    def delivery_status(self, sid: str) -> str | None:
        """The last delivery status Twilio reported for ``sid`` (``"delivered"``, ``"failed:30003"``…)."""
        return self.claims.get(status_key(sid))

    def inbound(self, phone: str, body: str, sid: str = "") -> None:
        """A customer's reply: a message that is exactly STOP (or another of Twilio's opt-out words,
        any case, trailing punctuation ignored) opts the number out, START opts it back in, as
        Twilio itself does; anything else ("Cancel my 3 pm visit") is left to the office.

        A message (``sid``, Twilio's ``MessageSid``) counts once: a signed request replayed, or
        Twilio delivering it again, cannot undo a later STOP with an earlier START. Seen sids are
        kept as long as a claim (``CLAIM_TTL``, 7 days): a replay older than that counts again."""
        if sid and self.claims.claim(f"dispatch:sms:inbound:{key_part(sid)}", "seen") is not None:
            log.info("reply %s from %s seen before: ignored", sid, mask_phone(phone))
            return
        word = body.strip().rstrip(".!").strip().upper()
        if word in STOP_WORDS:
            self.claims.opt_out(phone_key(phone))
            log.info("%s replied %s: no more texts", mask_phone(phone), word)
        elif word in START_WORDS:
            for key in phone_keys(phone):
                self.claims.opt_in(key)
            log.info("%s replied %s: texts resume", mask_phone(phone), word)

    def opted_out(self, phone: str) -> bool:
        """Whether ``phone`` (any spelling) replied STOP or was refused as unsubscribed (or invalid)."""
        return any(self.claims.opted_out(key) for key in phone_keys(phone))
