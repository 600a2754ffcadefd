"""The notifier's loop: ETA events read through a consumer group and handed to the policy, several
at a time; scheduled texts (held moves, confirmations) sent when their time comes.

Events are read through the ``notifier`` consumer group, so a restarted notifier resumes with
what it had not finished (its pending entries come first) and a dead consumer's events are taken
over once stale. An event is acknowledged once handled, unless its outcome is ``RETRY``: then it is
tried again after ``RETRY_AFTER``. Events of one job are handled in the order they came; a text
that keeps failing holds one sender, not the others. Events published longer ago than ``max_age``
are acknowledged without a text. The loop survives the stream, Redis or Twilio being down.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from dispatch.eta import EtaEvent
from dispatch.notify.claims import Claims, ClaimsUnavailableError
from dispatch.notify.lease import Run
from dispatch.notify.outcome import Handled
from dispatch.notify.policy import MOVE, Policy
from dispatch.notify.replies import phone_key
from dispatch.notify.sms import mask
from dispatch.stream import EtaStream, StreamUnavailableError, decode

log = logging.getLogger("dispatch.notify")

GROUP = "notifier"
#: Seconds between looks at this consumer's unfinished events (and a dead consumer's).
SWEEP_EVERY = 5.0
#: Seconds between looks at the texts scheduled (held moves, confirmations).
DUE_EVERY = 1.0
#: An event given to a consumer that has not touched it for this long is taken over.
STALE_AFTER = 60.0
#: An event left for later (Twilio still failing, or its outcome unknown) is tried again after this.
RETRY_AFTER = 5.0
#: Events published longer ago than this are not texted (a notifier back after a long outage).
MAX_AGE = 6 * 3_600.0


class Loop:
    """Reads ``stream`` and hands each event to ``policy`` on ``senders`` threads; ``run`` is the
    run it starts (its consumer name, its id, what stops it)."""

    def __init__(
        self,
        stream: EtaStream,
        claims: Claims,
        policy: Policy,
        run: Run,
        *,
        senders: int,
        max_age: float,
        clock: Callable[[], float],
    ) -> None:
        self.stream = stream
        self.claims = claims
        self.policy = policy
        self.this_run = run
        self.senders = senders
        self.max_age = max_age
        self.clock = clock
        self._due_busy: set[str] = set()

    def run(self, stop: threading.Event, consumer: str = "notifier-1") -> None:
        """Handle events until ``stop`` is set, ``senders`` at a time; survives the stream being
        down (retries). Events of one job are handled in the order they came; a text that keeps
        failing holds one sender, not the others (an emergency is never queued behind it)."""
        self.this_run.start(consumer, stop)
        pool = ThreadPoolExecutor(self.senders, thread_name_prefix="notifier-send")
        finished: queue.SimpleQueue[tuple[str, Handled]] = queue.SimpleQueue()
        in_flight: dict[str, Future[Handled]] = {}
        tails: dict[tuple[str, str], Future[Handled]] = {}  # the last task of each (plan, job)
        not_before: dict[str, float] = {}  # events left for later: when to try again
        next_sweep = next_due = 0.0
        try:
            while not stop.is_set():
                self._finish(finished, in_flight, not_before, tails)
                now = time.monotonic()
                try:
                    if now >= next_due:  # held moves and confirmations whose time has come
                        next_due = now + DUE_EVERY
                        self._submit_due(pool)
                    if now >= next_sweep:  # what this consumer holds, and what a dead one left
                        self.stream.touch(GROUP, consumer, list(in_flight))
                        want = len(in_flight) + len(not_before) + 50
                        held = self.stream.pending(GROUP, consumer, count=want, stale=STALE_AFTER)
                        if len(held) < want:  # the whole list was seen: forget what is no longer in it
                            ids = {i for i, _ in held}
                            for gone in [i for i in not_before if i not in ids]:
                                del not_before[gone]
                        batch = [(i, e) for i, e in held if i not in in_flight and not_before.get(i, 0.0) <= now]
                        next_sweep = now + SWEEP_EVERY
                    elif len(in_flight) >= self.senders * 8:
                        stop.wait(0.05)
                        continue
                    else:
                        batch = self.stream.group_read(GROUP, consumer, block=0.2, count=50)
                    batch = self._fresh(batch)
                except StreamUnavailableError as exc:
                    log.warning("notifier: %s; retrying in 1 s", exc)
                    stop.wait(1.0)
                    continue
                except Exception:
                    log.exception("notifier: unexpected error; going on in 1 s")
                    stop.wait(1.0)
                    continue
                for event_id, event in batch:
                    not_before.pop(event_id, None)
                    key = (event.plan_id, event.job_id or phone_key(event.customer_phone))  # one customer's in order
                    task = pool.submit(self._in_turn, tails.get(key), event)
                    in_flight[event_id] = tails[key] = task
                    task.add_done_callback(functools.partial(_report, finished, event_id))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._finish(finished, in_flight, not_before, tails)

    def start(self, consumer: str = "notifier-1") -> tuple[threading.Thread, threading.Event]:
        """``run`` on a thread of its own: the thread, and the event that stops it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop, consumer), name="notifier", daemon=True)
        thread.start()
        return thread, stop

    def _fresh(self, batch: list[tuple[str, EtaEvent]]) -> list[tuple[str, EtaEvent]]:
        """``batch`` without events published more than ``max_age`` ago (acknowledged, logged):
        an en-route text hours late helps no one (a first start reads the stream from its start)."""
        now_ms = time.time() * 1000
        old = [i for i, _ in batch if "-" in i and now_ms - int(i.split("-", 1)[0]) > self.max_age * 1000]
        if old:
            log.warning("notifier: %d event(s) older than %.0f s skipped", len(old), self.max_age)
            self.stream.ack(GROUP, old)
        return [(i, e) for i, e in batch if i not in old]

    def send_due(self) -> list[Handled]:
        """Send the scheduled texts (confirmations, settled moves) whose time has come, one after
        the other; their outcomes. The loop does the same on its senders, every ``DUE_EVERY``."""
        return [self._send_scheduled(slot, payload) for slot, payload in self.claims.due(self.clock(), 50)]

    def _send_scheduled(self, slot: str, payload: bytes) -> Handled:
        try:
            try:
                event = decode(payload)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("notifier: a scheduled text cannot be read (%s): dropped", type(exc).__name__)
                self.claims.unschedule(slot, payload)
                return Handled.UNREADABLE
            outcome = self.policy.handle(event, settled=slot.startswith(MOVE))
            if outcome is not Handled.RETRY:  # else it stays scheduled: tried again at the next look
                self.claims.unschedule(slot, payload)
            return outcome
        except ClaimsUnavailableError as exc:
            log.warning("notifier: Redis %s; a scheduled text is tried again", exc.kind)
            return Handled.RETRY
        finally:
            self._due_busy.discard(slot)

    def _in_turn(self, before: Future[Handled] | None, event: EtaEvent) -> Handled:
        if before is not None:
            wait([before])
        return self.policy.handle(event)

    def _submit_due(self, pool: ThreadPoolExecutor) -> None:
        try:
            due = self.claims.due(self.clock(), self.senders * 4)
        except ClaimsUnavailableError as exc:
            log.warning("notifier: Redis %s; scheduled texts are looked at again later", exc.kind)
            return
        for slot, payload in due:
            if slot not in self._due_busy:
                self._due_busy.add(slot)
                pool.submit(self._send_scheduled, slot, payload).add_done_callback(_outcome)  # logs a crash

    def _finish(
        self,
        finished: queue.SimpleQueue[tuple[str, Handled]],
        in_flight: dict[str, Future[Handled]],
        not_before: dict[str, float],
        tails: dict[tuple[str, str], Future[Handled]],
    ) -> None:
        """Acknowledge what is done; what is not is tried again after ``RETRY_AFTER``."""
        done = []
        while not finished.empty():
            event_id, outcome = finished.get()
            task = in_flight.pop(event_id, None)
            if outcome is Handled.RETRY:
                not_before[event_id] = time.monotonic() + RETRY_AFTER
            else:
                done.append(event_id)
            for key, tail in list(tails.items()):
                if tail is task:
                    del tails[key]
        try:
            self.stream.ack(GROUP, done)
        except StreamUnavailableError as exc:
            log.warning("notifier: %s; %d event(s) will be seen again (and deduplicated)", exc, len(done))


def _report(finished: queue.SimpleQueue[tuple[str, Handled]], event_id: str, task: Future[Handled]) -> None:
    """Put a finished text's outcome on ``finished`` (a done callback)."""
    finished.put((event_id, _outcome(task)))


def _outcome(task: Future[Handled]) -> Handled:
    if task.cancelled():
        return Handled.RETRY
    error = task.exception()
    if error is not None:
        log.error("notifier: an event failed (%s: %s); tried again later", type(error).__name__, mask(str(error)))
        return Handled.RETRY
    return task.result()
