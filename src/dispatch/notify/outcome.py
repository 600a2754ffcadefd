"""What handling one ETA event came to (``Handled``), and ``Unsettled``: a text caught mid-send
whose fate cannot be told yet."""

from __future__ import annotations

from enum import StrEnum


class Handled(StrEnum):
    """The outcome of one event (``Notifier.handle``, ``Notifier.send_due``). Every one but
    ``RETRY`` is final: the event is acknowledged. ``RETRY`` leaves it unacknowledged (or still
    scheduled), to be tried again later.

    The values are what the notifier always called them (a ``StrEnum`` compares equal to them).
    """

    #: Twilio took the text.
    SENT = "sent"
    #: No Twilio credentials: the text went to the log.
    LOGGED = "logged"
    #: Its dedupe key was settled already (sent or refused, here or by another notifier).
    DUPLICATE = "duplicate"
    #: The customer has no phone number.
    SKIPPED_NO_PHONE = "skipped: no phone"
    #: The number replied STOP, or Twilio refused it as unsubscribed or invalid.
    SKIPPED_OPTED_OUT = "skipped: opted out"
    #: Twilio refused the text for good: its code is in the claim (``failed:<code>``), the log
    #: line and the ``code`` label of ``dispatch_texts_total``.
    FAILED = "failed"
    #: An appointment confirmation kept until ``APPOINTMENT_LEAD`` before its ETA.
    SCHEDULED = "scheduled"
    #: A move of a visit not confirmed yet: the scheduled confirmation carries the new ETA.
    RESCHEDULED = "rescheduled"
    #: A moved ETA, or a broken promise's apology, held for ``SETTLE`` before it is texted.
    HELD = "held"
    #: A held move back to (or near) the ETA the customer was told last: nothing to tell.
    UNCHANGED = "unchanged"
    #: An older version of a visit than one already handled: out of date.
    STALE = "stale"
    #: A cancelled job: its scheduled texts are dropped.
    WITHDRAWN = "withdrawn"
    #: Not done (Twilio still failing, its outcome unknown, Redis unreachable): tried again later.
    RETRY = "retry"
    #: A scheduled text that cannot be decoded: dropped.
    UNREADABLE = "unreadable"


class Unsettled(Exception):
    """A text left ``sending`` (a crash or a timeout mid-send) cannot be settled yet: its lease
    has not run out (another sender may be on it), another handler took it over first, or Twilio
    cannot be asked. Whoever catches it answers ``Handled.RETRY``."""
