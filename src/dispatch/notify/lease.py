"""A text's claim while it is being sent: ``sending:<time>:<run>``, and when it may be taken over.

A text's dedupe key (``policy.text_key``) is claimed before the text is sent (``SET NX`` in Redis,
or in memory), renewed before each attempt, and says ``sent:<sid>`` or ``failed:<code>`` once
the outcome is known. A key left ``sending`` (a crash or a timeout mid-send) is taken over once
its lease has run out (``LEASE``: each attempt renews it, so a sender still retrying keeps it) —
or, when an earlier run of this same consumer left it (one process per name: that run is dead),
once its last request would have timed out — and settled by asking Twilio whether that text went
out since then, never by sending blindly.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

#: A ``sending`` claim younger than this may belong to a sender still at work (its retries renew
#: it; the longest wait between them is 30 s): only an older one is settled by asking Twilio.
LEASE = 45.0
#: Seconds past the Twilio timeout after which a claim an earlier run of this consumer left (that
#: run is dead) is settled: its last request has had time to reach Twilio or to fail. Settling at
#: once sent one text twice in the killed-notifier replay (benchmarks/notify.py): the dead run's
#: create reached Twilio after the restarted run had asked whether it had.
ORPHAN_MARGIN = 5.0


@dataclass
class Run:
    """This run of the notifier: its consumer's name and this run's id (set by ``start``; empty
    while events are handled directly), and the event that stops it. A claim names the run that
    made it."""

    consumer: str = ""
    run_id: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self, consumer: str, stopping: threading.Event) -> None:
        """A new run of ``consumer``, stopped by ``stopping``."""
        self.stopping = stopping
        self.consumer, self.run_id = consumer, f"{consumer}/{uuid.uuid4().hex[:12]}"

    def sending(self) -> str:
        """A claim's value while its text is being sent: when, and by which run."""
        return f"sending:{time.time():.3f}:{self.run_id}" if self.run_id else f"sending:{time.time():.3f}"

    def orphaned(self, owner: str) -> bool:
        """Whether a claim made by ``owner`` (a run) was left by an earlier run of this consumer:
        a restarted notifier settles its own unfinished texts after ``orphan_grace``, not the lease."""
        return bool(self.run_id) and owner != self.run_id and owner.rsplit("/", 1)[0] == self.consumer
