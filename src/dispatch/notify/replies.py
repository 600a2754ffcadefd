"""What Twilio tells us after a text: delivery status callbacks and customers' replies (the
webhook, ``dispatch.notify.webhook``, passes them on), and the opt-outs they make.

A number is opted out when the customer replies STOP (or another of Twilio's opt-out words),
when a delivery callback says it is unsubscribed (Twilio error 21610), or when sending to it was
refused as unsubscribed or invalid (``sending``); START opts it back in. Opt-outs are kept by
``phone_key``: one spelling per number.

Any other reply ("Can you come after 3?") reaches a person: it is recorded once per
``MessageSid`` as a ``CustomerReply`` on the replies stream (``dispatch:replies`` in Redis, else
this process's; consoles follow it with ``WatchCustomerReplies``), with the plan and job of the
last text the number was sent (``remember_text``), and forwarded to the office phone
(``DISPATCH_OFFICE_PHONE``), once, through the notifier's sender. Each is counted
(``dispatch_customer_replies_total{forwarded}``) and logged, number masked.

Redis down: a reply cannot be told from one seen before, nor recorded. It is forwarded all the
same (deduplicated in this process only) and logged with its text, numbers masked: a reply
Twilio may deliver twice is better than one nobody reads. STOP and START still fail (the webhook
answers 500), as before: Twilio applies them on its side anyway.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dispatch import codec, metrics
from dispatch.logs import mask_phone
from dispatch.notify.claims import Claims, ClaimsUnavailableError, MemoryClaims, key_part
from dispatch.notify.health import IntegrationLog
from dispatch.notify.outcome import Handled
from dispatch.notify.sms import CUSTOMER_SIDE, UNSUBSCRIBED, e164, mask
from dispatch.notify.templates import segments
from dispatch.stream import MemoryStream, RedisStream, Stream, StreamUnavailableError, redis_stream

if TYPE_CHECKING:
    from dispatch.notify.lease import Run
    from dispatch.notify.sending import Sender

log = logging.getLogger("dispatch.notify")

#: Replies that unsubscribe a number, and that subscribe it again (Twilio's standard keywords).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES", "OPTIN"})
#: Delivery statuses that mean the text did not reach the phone.
UNDELIVERED = frozenset({"failed", "undelivered"})
#: How far along each status is: a late callback never moves a message back.
STATUS_RANK = {"accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4, "failed": 5}
STATUS_RANK |= {"undelivered": 5, "delivered": 5, "receiving": 5, "received": 5, "read": 6, "canceled": 6}
#: The Redis Stream of the customers' replies (capped at about ``REPLIES_MAX_LEN`` entries).
REPLIES_KEY = "dispatch:replies"
REPLIES_MAX_LEN = 100_000
#: The message kind of a forwarded reply (the ``kind`` label of ``dispatch_texts_total``).
FORWARD_KIND = "reply_forward"
#: Seconds a forward is retried (429, 5xx, refused connections) before the webhook answers: Twilio
#: waits 15 s for it. Beyond that the reply stays on the stream, marked not forwarded.
FORWARD_RETRY_FOR = 8.0
#: The longest text Twilio takes (characters): a forwarded reply is cut to fit.
MAX_TEXT = 1600


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


def last_text_key(phone: str) -> str:
    """Where the plan and job of the last text sent to ``phone`` (any spelling) are kept."""
    return f"dispatch:sms:last_text:{phone_key(phone)}"


def remember_text(claims: Claims, phone: str, plan_id: str, job_id: str) -> None:
    """Remember that the last text sent to ``phone`` was about ``job_id`` of ``plan_id``: a reply
    from that number is recorded with them. Kept as long as a claim (``CLAIM_TTL``, 7 days, in
    Redis; in memory, while the process lives). Best effort: Redis failing is logged, not raised
    (the text has gone out; the reply will only lack its job)."""
    if not phone:
        return
    try:
        claims.set(last_text_key(phone), json.dumps({"plan_id": plan_id, "job_id": job_id}, separators=(",", ":")))
    except ClaimsUnavailableError as exc:
        log.warning("cannot remember the job of the text to %s: Redis %s", mask_phone(phone), exc.kind)


def last_text(claims: Claims, phone: str) -> tuple[str, str]:
    """``(plan_id, job_id)`` of the last text sent to ``phone``, ``("", "")`` when not known.

    Raises
    ------
    ClaimsUnavailableError
        Redis cannot be reached.
    """
    held = claims.get(last_text_key(phone))
    if held is None:
        return "", ""
    try:
        found = json.loads(held)
        return str(found["plan_id"]), str(found["job_id"])
    except (ValueError, TypeError, KeyError):
        return "", ""


@dataclass(frozen=True)
class CustomerReply:
    """A customer's text that was neither an opt-out nor an opt-in word. Its id is the stream's."""

    #: The customer's number, E.164.
    phone: str
    body: str
    #: Unix time the webhook received it.
    received_at: float
    #: Twilio's ``MessageSid`` of the reply.
    message_sid: str = ""
    #: The plan and job of the last text this number was sent, when known.
    plan_id: str = ""
    job_id: str = ""
    #: Whether it was forwarded to the office phone.
    forwarded: bool = False


def encode_reply(reply: CustomerReply) -> bytes:
    """A reply as its Redis stream entry: JSON (``dispatch.codec``), never pickle."""
    return json.dumps(codec.to_json(reply), separators=(",", ":")).encode()


def decode_reply(raw: bytes) -> CustomerReply:
    return codec.from_json(CustomerReply, json.loads(raw))


#: The replies stream: ``MemoryStream`` (this process) or ``redis_replies``.
ReplyStream = Stream[CustomerReply]


def redis_replies(url: str, *, socket_timeout: float = 1.0, connect_timeout: float = 0.5) -> RedisStream[CustomerReply]:
    """The replies stream in the Redis at ``url`` (``REPLIES_KEY``), shared by every process."""
    return redis_stream(
        url,
        key=REPLIES_KEY,
        encode=encode_reply,
        decode=decode_reply,
        name="replies stream",
        max_len=REPLIES_MAX_LEN,
        socket_timeout=socket_timeout,
        connect_timeout=connect_timeout,
    )


def forward_text(phone: str, job_id: str, body: str) -> str:
    """What the office phone is sent: "Reply from +13035550199 (job J0042): Can you come after 3?".

    The number is shown in full, unlike in logs: the office is the business itself, and it must
    be able to call or text the customer back (a masked number would send it looking the job up
    first, and there may be no job). The text is cut to Twilio's 1,600 characters."""
    head = f"Reply from {e164(phone)}" + (f" (job {job_id})" if job_id else "") + ": "
    if len(head) + len(body) > MAX_TEXT:
        body = body[: MAX_TEXT - len(head) - 3] + "..."
    return head + body


class Replies:
    """Delivery statuses and opt-outs, kept in ``claims``; undelivered texts counted in
    ``integrations``; other replies put on ``stream`` and forwarded to ``office_phone`` (if any)
    through ``forward``, or, when ``claims`` cannot be reached, through the sender ``fallback``
    makes on claims of this process; ``run`` names a forward's claim."""

    def __init__(
        self,
        claims: Claims,
        integrations: IntegrationLog,
        *,
        stream: ReplyStream | None = None,
        office_phone: str = "",
        forward: Sender | None = None,
        fallback: Callable[[Claims], Sender] | None = None,
        run: Run | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.claims = claims
        self.integrations = integrations
        self.stream: ReplyStream = stream if stream is not None else MemoryStream()
        self.office_phone = office_phone
        self.forward = forward
        #: What a forward is claimed in when ``claims`` cannot be reached: this process only.
        self.local_claims: Claims = MemoryClaims()
        self.fallback = fallback(self.local_claims) if fallback is not None else None
        self.this_run = run
        self.clock = clock

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
        """A customer's text: a message that is exactly STOP (or another of Twilio's opt-out words,
        any case, trailing punctuation ignored) opts the number out, START opts it back in, as
        Twilio itself does; anything else ("Cancel my 3 pm visit") goes to the office (``_reply``).

        A message (``sid``, Twilio's ``MessageSid``) counts once: a signed request replayed, or
        Twilio delivering it again, cannot undo a later STOP with an earlier START, nor record or
        forward a reply twice. Seen sids are kept as long as a claim (``CLAIM_TTL``, 7 days): a
        replay older than that counts again.

        Raises
        ------
        ClaimsUnavailableError
            Redis cannot be reached, for a STOP or a START (any other reply is still forwarded).
        """
        word = body.strip().rstrip(".!").strip().upper()
        keyword = word in STOP_WORDS or word in START_WORDS
        shared = True  # the claims answer: "seen before" is known to every process
        try:
            seen = bool(sid) and self.claims.claim(f"dispatch:sms:inbound:{key_part(sid)}", "seen") is not None
        except ClaimsUnavailableError as exc:
            if keyword:
                raise
            log.error(
                "reply %s from %s: Redis %s; forwarded without knowing if seen before", sid, mask_phone(phone), exc.kind
            )
            seen, shared = False, False
        if seen:
            log.info("reply %s from %s seen before: ignored", sid, mask_phone(phone))
            return
        if word in STOP_WORDS:
            self.claims.opt_out(phone_key(phone))
            log.info("%s replied %s: no more texts", mask_phone(phone), word)
        elif word in START_WORDS:
            for key in phone_keys(phone):
                self.claims.opt_in(key)
            log.info("%s replied %s: texts resume", mask_phone(phone), word)
        else:
            self._reply(phone, body, sid, shared=shared)

    def _reply(self, phone: str, body: str, sid: str, *, shared: bool) -> None:
        """Forward a reply (not a keyword) to the office, record it on the stream, count and log
        it; never raises for Redis or Twilio failing (the reply is then at least logged). A reply
        from the office phone itself is ignored: never sent back to it."""
        if self.office_phone and phone_key(phone) == phone_key(self.office_phone):
            log.info("reply %s from the office phone %s: ignored", sid, mask_phone(phone))
            return
        plan_id = job_id = ""
        if shared:
            try:
                plan_id, job_id = last_text(self.claims, phone)
            except ClaimsUnavailableError as exc:
                log.warning("reply %s from %s: its job is not known (Redis %s)", sid, mask_phone(phone), exc.kind)
                shared = False
        forwarded = self._forward(phone, body, sid, job_id, shared=shared)
        reply = CustomerReply(
            phone=e164(phone),
            body=body,
            received_at=self.clock(),
            message_sid=sid,
            plan_id=plan_id,
            job_id=job_id,
            forwarded=forwarded,
        )
        metrics.CUSTOMER_REPLIES.labels(forwarded="true" if forwarded else "false").inc()
        told = "forwarded to the office" if forwarded else ("not forwarded" if self.office_phone else "no office phone")
        try:
            [reply_id] = self.stream.publish([reply])
        except StreamUnavailableError as exc:
            # Nowhere else to keep it: the text goes to the log (numbers masked) so it is not lost.
            log.error(
                "reply %s from %s (job %s), %s, NOT recorded (%s): %s",
                sid,
                mask_phone(phone),
                job_id or "unknown",
                told,
                exc,
                mask(body),
            )
            return
        log.info(
            "reply %s from %s (job %s) recorded as %s, %s", sid, mask_phone(phone), job_id or "unknown", reply_id, told
        )

    def _forward(self, phone: str, body: str, sid: str, job_id: str, *, shared: bool) -> bool:
        """Text the reply to the office phone, once per ``sid``: its claim ``dispatch:sms:forward:<sid>``
        is taken before sending (then holds the outcome, as a text's key does); whether it went (or
        was logged). Redis down (``shared`` false, or found so now): through the ``fallback``
        sender, deduplicated in this process only."""
        if not self.office_phone:
            return False
        key = f"dispatch:sms:forward:{key_part(sid or uuid.uuid4().hex)}"
        text = forward_text(phone, job_id, body)
        routes: list[tuple[Sender, Claims]] = []
        if shared and self.forward is not None:
            routes.append((self.forward, self.claims))
        if self.fallback is not None:
            routes.append((self.fallback, self.local_claims))
        for sender, claims in routes:
            try:
                held = claims.claim(key, self._sending())
                if held is not None:  # forwarded already (or being forwarded): not again
                    log.info("reply %s: forwarded to the office already (%s)", sid, held.split(":", 1)[0])
                    return not held.startswith("failed:")
                outcome = sender.send(key, self.office_phone, text, FORWARD_KIND, segments(text))
            except ClaimsUnavailableError as exc:
                log.warning("reply %s: Redis %s; forwarded without the shared claims", sid, exc.kind)
                continue
            except Exception as exc:  # noqa: BLE001 (a forward failing must not fail the webhook)
                log.error("reply %s: forwarding it failed (%s: %s)", sid, type(exc).__name__, mask(str(exc)))
                return False
            if outcome not in (Handled.SENT, Handled.LOGGED):
                log.warning("reply %s from %s: not forwarded to the office (%s)", sid, mask_phone(phone), outcome)
            return outcome in (Handled.SENT, Handled.LOGGED)
        return False

    def _sending(self) -> str:
        return self.this_run.sending() if self.this_run is not None else f"sending:{time.time():.3f}"

    def opted_out(self, phone: str) -> bool:
        """Whether ``phone`` (any spelling) replied STOP or was refused as unsubscribed (or invalid)."""
        return any(self.claims.opted_out(key) for key in phone_keys(phone))
