"""Customer texts end to end: gRPC events → ETA events → notifier → a loopback Twilio.

Real processes throughout: ``dispatch serve`` (gRPC), the notifier (inside ``dispatch serve``, or
``dispatch notifier`` as its own process on Redis Streams), a real ``redis-server``, and the fake
Twilio API of the tests (``tests/support/fake_twilio.py``: the real ``twilio`` client talks to it; it posts
signed status callbacks to the notifier's webhook). The day is the bundled example day (Denver,
8 technicians, 60 jobs), each customer with a phone number of their own.

1. ``emergency``: emergencies called in one at a time over gRPC (``Reoptimize`` with a new
   EMERGENCY job, the previous one cancelled); the time from the call to the emergency text's
   arrival at Twilio, with the notifier in the server process (no Redis) and as its own process.
2. ``day``: the day replayed in 20-minute steps — technicians depart and complete as planned,
   jobs run late, emergencies come in, a job is cancelled, a technician goes home sick, three
   customers reply STOP, three numbers are unsubscribed at Twilio (21610) — with the notifier
   killed (SIGKILL) mid-day and restarted. Checked against the ETA stream and the dedupe keys:
   every text due (one per event kind and ETA bucket per job) reached Twilio exactly once, none
   twice, none to a number after it opted out.
3. ``outage``: Twilio answering 429 and 500 to every message for a minute while a day's
   confirmations go out, one number invalid (21211): every text sent once in the end, the
   invalid one tried once, and the health report (``GetIntegrationHealth``) through the outage
   and after (window shortened to ``--health-window`` so that recovery fits in the run).

Usage::

    python -m benchmarks.notify [--emergencies 30] [--out benchmarks/results/notify.md]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import redis
import requests
from google.protobuf import json_format
from twilio.request_validator import RequestValidator

from benchmarks.health_under_load import percentile
from benchmarks.replay import Replay
from benchmarks.serve import served
from dispatch.cli import EXAMPLE_DAY
from dispatch.eta import EtaKind
from dispatch.notify.claims import DUE
from dispatch.notify.policy import MESSAGE_OF, STATEFUL, TOLD, text_key, visit_slot
from dispatch.notify.replies import phone_key
from dispatch.store.redis import KEY_PREFIX
from dispatch.stream import STREAM_KEY, decode
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc
from tests.support.fake_twilio import SID, TOKEN, FakeTwilio
from tests.support.redis_server import RedisServer, end, free_port
from tests.support.served import DispatchProcess

OURS = "+13035550000"


def day(plan_id: str, time_limit: float, exchange: int) -> dict[str, Any]:
    """The example day, each customer with a number of their own: ``+1 720 <exchange> <job>``
    (one exchange per run: opt-outs of one run must not leak into another's counts)."""
    request = json.loads(Path(EXAMPLE_DAY).read_text())
    request["plan_id"] = plan_id
    request["options"]["time_limit"] = f"{time_limit:g}s"
    for i, job in enumerate(request["jobs"]):
        job.setdefault("customer", {})["phone"] = f"+1720{exchange:03d}{i:04d}"
    return request


def twilio_env(fake: FakeTwilio, webhook_port: int) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": OURS,
        "DISPATCH_TWILIO_BASE_URL": fake.base_url,
        "DISPATCH_TWILIO_WEBHOOK_URL": f"http://127.0.0.1:{webhook_port}/twilio",
        "DISPATCH_WEBHOOK_PORT": str(webhook_port),
    }


class NotifierProcess:
    """``dispatch notifier`` as its own process (killed and restarted at will)."""

    def __init__(self, env: dict[str, str], consumer: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPATCH_", "TWILIO_"))} | env
        self.consumer = consumer
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "dispatch.cli", "notifier", "--consumer", self.consumer]
        self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "notifier …: texts to …" once it runs
        if not line.startswith("notifier"):
            raise RuntimeError(f"dispatch notifier did not start ({self.process.poll()})")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            end(self.process, timeout=15)


@contextlib.contextmanager
def notifier_process(env: dict[str, str], consumer: str = "bench-notifier") -> Iterator[NotifierProcess]:
    process = NotifierProcess(env, consumer)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def unix(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def replan_request(plan: pb.Plan, now: int, events: list, limit: float, request_id: str = "") -> pb.ReoptimizeRequest:
    request = json_format.ParseDict(
        {"plan_id": plan.plan_id, "events": events, "options": {"time_limit": f"{limit:g}s"}, "request_id": request_id},
        pb.ReoptimizeRequest(),
    )
    request.time.FromSeconds(now)
    return request


def reoptimize(stub: dispatch_pb2_grpc.DispatchStub, plan: pb.Plan, now: int, events: list, limit: float) -> pb.Plan:
    return stub.Reoptimize(replan_request(plan, now, events, limit), timeout=limit + 60).plan


def stored_version(client: redis.Redis, plan_id: str) -> int:
    version = client.hget(KEY_PREFIX + plan_id, "version")
    return int(version) if version else 0


def reoptimize_through_a_crash(
    server: DispatchProcess, client: redis.Redis, request: pb.ReoptimizeRequest, limit: float
) -> tuple[pb.Plan, DispatchProcess, bool]:
    """Send ``request`` (it has a ``request_id``) and SIGKILL the server the moment the version
    it makes is stored, before it answers (and before its improved answer); start the server
    again on the same port and send the same request: the answer is the version stored, and
    that version's texts must go out once all the same. Returns the plan, the new server, and
    whether the kill fell between the store and the answer (else the answer came first)."""
    before = stored_version(client, request.plan_id)
    stub = dispatch_pb2_grpc.DispatchStub(server.channel)
    call = stub.Reoptimize.future(request, timeout=limit + 60)
    deadline = time.monotonic() + limit + 60
    while stored_version(client, request.plan_id) == before and not call.done() and time.monotonic() < deadline:
        time.sleep(0.0005)
    between = not call.done()
    server.kill()  # a crash between storing the version and answering
    with contextlib.suppress(grpc.RpcError, grpc.FutureCancelledError):
        call.result()
    again = DispatchProcess(server.env, port=server.port, args=SERVE_ARGS, stderr=None, ready_within=120)
    answer = again.stub.Reoptimize(request, timeout=limit + 60)  # the same request_id: the stored answer
    return answer.plan, again, between


def wait_quiet(
    fake: FakeTwilio, *, settle: float = 3.0, within: float = 120.0, stream: redis.Redis | None = None
) -> None:
    """Until no text has arrived for ``settle`` s (and, with Redis, nothing is left unacknowledged)."""
    deadline = time.monotonic() + within
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(fake.messages)
        pending = 0
        if stream is not None:
            with contextlib.suppress(redis.exceptions.ResponseError):
                pending = int(stream.xpending(STREAM_KEY, "notifier")["pending"])
            pending += int(stream.zcard(DUE))  # moves held to settle, confirmations waiting for their time
        if count != seen or pending:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= settle:
            return
        time.sleep(0.2)


def emergency_job(base: dict[str, Any], k: int) -> dict[str, Any]:
    """An emergency like ``base`` (same place and trade), no window: respond within an hour."""
    job = {key: copy.deepcopy(base[key]) for key in ("location", "required_skills") if key in base}
    job.update(
        id=f"EMG-{k:03d}",
        service_duration="3600s",
        priority="EMERGENCY",
        respond_within="3600s",
        service_type="No heat",
        customer={"name": f"Emergency {k}", "phone": f"+1303777{k:04d}"},
    )
    return job


# ---------------------------------------------------------------------------- 1. emergency


def emergencies(mode: str, count: int, redis_url: str | None, solve_limit: float) -> dict[str, Any]:
    fake = FakeTwilio(callbacks=True)
    hook = twilio_env(fake, free_port())
    serve_env = dict(hook) if mode == "in process" else {}
    try:
        with served(workers=2, redis_url=redis_url, env=serve_env) as address, contextlib.ExitStack() as stack:
            if mode == "own process":
                assert redis_url
                redis.Redis.from_url(redis_url).flushdb()  # each run on its own: no texts held from another
                stack.enter_context(notifier_process(hook | {"DISPATCH_REDIS_URL": redis_url}))
            with grpc.insecure_channel(address) as channel:
                stub = dispatch_pb2_grpc.DispatchStub(channel)
                request = day(f"bench-emergency-{mode.replace(' ', '-')}-{os.getpid()}", solve_limit, 555)
                plan = stub.Solve(json_format.ParseDict(request, pb.SolveRequest()), timeout=solve_limit + 60).plan
                wait_quiet(fake, settle=2.0)
                confirmations = len(fake.messages)
                epoch = unix(request["technicians"][0]["shift"]["start"])
                latencies, unassigned = [], 0
                previous = None
                for k in range(count):
                    job = emergency_job(request["jobs"][k % len(request["jobs"])], k)
                    events: list[dict[str, Any]] = [{"new_job": job}]
                    if previous:
                        events.append({"cancel_job": {"job_id": previous}})
                    began = time.monotonic()
                    plan = reoptimize(stub, plan, epoch + 1800 + 120 * k, events, 0.5)
                    if job["id"] in {u.job_id for u in plan.unassigned}:
                        unassigned += 1
                        previous = job["id"]
                        continue
                    phone = job["customer"]["phone"]
                    deadline = time.monotonic() + 30
                    arrived = None
                    while arrived is None and time.monotonic() < deadline:
                        arrived = next((at for at, to in list(fake.arrivals) if to == phone), None)
                        time.sleep(0.005)
                    latencies.append((arrived - began) if arrived is not None else float("inf"))
                    previous = job["id"]
        missing = sum(1 for x in latencies if x == float("inf"))
        done = [x for x in latencies if x != float("inf")]
        return {
            "mode": mode,
            "emergencies": count,
            "texted": len(done),
            "missing": missing,
            "unassigned": unassigned,
            "confirmations": confirmations,
            "p50": percentile(done, 50) if done else float("nan"),
            "p95": percentile(done, 95) if done else float("nan"),
            "max": max(done) if done else float("nan"),
        }
    finally:
        fake.close()


# ---------------------------------------------------------------------------- 2. a replayed day


def texts_due(client: redis.Redis, plan_ids: set[str]) -> dict[str, list[str]]:
    """Every dedupe key the ETA stream's events call for, with the phones — but moves, which are
    held until they settle and told only if still news (checked by ``stale_etas``). A
    confirmation followed by a later version's for the same job may be superseded (dropped as out
    of date when it came late): it is due only if it was not."""
    events = _events(client, plan_ids)
    latest: dict[tuple[str, str], int] = {}
    for e in events:
        if e.kind in STATEFUL:
            latest[(e.plan_id, e.job_id)] = max(latest.get((e.plan_id, e.job_id), -1), e.version)
    due: dict[str, list[str]] = {}
    for event in events:
        if not event.customer_phone or event.kind not in MESSAGE_OF or event.kind is EtaKind.MOVED:
            continue  # no phone, no text of its own (WITHDRAWN), or a move
        key = text_key(event, MESSAGE_OF[event.kind])
        superseded = event.kind in STATEFUL and event.version < latest[(event.plan_id, event.job_id)]
        if superseded and not client.exists(key):
            continue
        due.setdefault(key, []).append(event.customer_phone)
    return due


def _events(client: redis.Redis, plan_ids: set[str]) -> list:
    return [e for e in (decode(f[b"e"]) for _, f in client.xrange(STREAM_KEY)) if e.plan_id in plan_ids]


def stale_etas(client: redis.Redis, plan_ids: set[str], opted_out: dict[str, float], threshold: int = 600) -> list[str]:
    """Customers whose last text does not carry (within the threshold) the last ETA the day gave
    their visit: the jobs still planned or under way (not done), with a phone, not opted out."""
    last: dict[tuple[str, str], Any] = {}
    for e in _events(client, plan_ids):
        if e.kind is not EtaKind.CUSTOMER_MESSAGE:  # a console's text says nothing of the visit
            last[(e.plan_id, e.job_id)] = e
    out = []
    blocked = {phone_key(o) for o in opted_out}
    for (plan, job), e in last.items():
        over = e.kind in (EtaKind.WITHDRAWN, EtaKind.SERVICE_COMPLETE)  # no ETA standing
        if over or not e.customer_phone or phone_key(e.customer_phone) in blocked:
            continue
        told = client.get(TOLD + visit_slot(plan, job))
        if told is None or abs(int(told) - e.eta) >= threshold:
            out.append(f"{job}: told {told.decode() if told else 'nothing'}, last ETA {e.eta} ({e.kind.name})")
    return out


def audit(client: redis.Redis, fake: FakeTwilio, plan_ids: set[str], opted_out: dict[str, float]) -> dict[str, Any]:
    """Texts due (from the stream) against texts Twilio got (from the fake), through the dedupe keys.

    ``opted_out``: phone -> monotonic time from which it must get nothing (STOP replies; 21610
    numbers from their first attempt)."""
    due = texts_due(client, plan_ids)
    by_sid = {m["sid"]: m for m in fake.messages}
    arrivals = {m["sid"]: at for m, (at, _) in zip(fake.messages, fake.arrivals, strict=True)}
    sent_once = refused = skipped = missing = 0
    problems: list[str] = []
    for key, phones in due.items():
        held = client.get(key)
        value = held.decode() if held else ""
        if value.startswith("sent:"):
            if value.split(":", 1)[1] in by_sid:
                sent_once += 1
            else:
                problems.append(f"{key}: sent {value} unknown to Twilio")
        elif value.startswith("failed:"):
            refused += 1
        elif any(phone_key(p) in {phone_key(o) for o in opted_out} for p in phones):
            skipped += 1  # opted out before it was due: nothing to send
        else:
            missing += 1
            problems.append(f"{key}: {value or 'never claimed'}")
    claimed: list[str] = []  # every text any claim says was sent (moves included)
    for plan in plan_ids:
        keys = list(client.scan_iter(f"dispatch:sms:{plan}:*", count=1000))
        claimed += [v.decode()[5:] for v in client.mget(keys) if v and v.startswith(b"sent:")] if keys else []
    unaccounted = len(fake.messages) - len(set(claimed) & set(by_sid))  # a text no claim owns: sent twice
    moves = sum(1 for e in _events(client, plan_ids) if e.kind is EtaKind.MOVED)
    updates = sum(1 for m in fake.messages if " now expects to arrive between " in m["body"])
    stale = stale_etas(client, plan_ids, opted_out)
    bodies: dict[tuple[str, str], int] = {}
    for m in fake.messages:
        bodies[(m["to"], m["body"])] = bodies.get((m["to"], m["body"]), 0) + 1
    same_text_twice = sum(n - 1 for n in bodies.values() if n > 1)
    after_opt_out = sum(1 for sid, m in by_sid.items() if m["to"] in opted_out and arrivals[sid] > opted_out[m["to"]])
    return {
        "events_due": len(due),
        "sent_once": sent_once,
        "refused": refused,
        "skipped_opted_out": skipped,
        "missing": missing,
        "texts_at_twilio": len(fake.messages),
        "unaccounted_texts": unaccounted,
        "same_text_twice": same_text_twice,
        "after_opt_out": after_opt_out,
        "moves": moves,
        "updates": updates,
        "stale_etas": len(stale),
        "problems": (problems + stale)[:8],
    }


def inbound(port: int, phone: str, body: str) -> int:
    url = f"http://127.0.0.1:{port}/twilio/inbound"
    form = {"From": phone, "To": OURS, "Body": body, "MessageSid": f"SMIN{phone[-4:]}", "AccountSid": SID}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=5).status_code


#: Steps after which the notifier is killed (SIGKILL) while it sends that step's texts; after the
#: last of several, it comes back under another name (as a new pod would) and takes the dead one's
#: events over once they are stale (60 s).
KILLS = (4, 9, 15)
#: Steps whose re-plan the server is killed in (SIGKILL), the moment the version it makes is stored.
SERVER_KILLS = (6, 13)
SERVE_ARGS = ("--workers", "2", "--max-waiting", "8")


def replayed_day(
    redis_url: str,
    solve_limit: float,
    kills: tuple[int, ...] = KILLS,
    server_kills: tuple[int, ...] = SERVER_KILLS,
    step_minutes: int = 20,
    settle: float = 2.0,
    pause: float = 3.0,
) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()  # each run on its own: no texts held from another (moves waiting to settle)
    fake = FakeTwilio(callbacks=True)
    port = free_port()
    # a day in ~2 minutes: moves are told once they have held 2 s (30 s in a real day)
    hook = twilio_env(fake, port) | {"DISPATCH_REDIS_URL": redis_url, "DISPATCH_ETA_SETTLE": str(settle)}
    request = day(f"bench-day-{os.getpid()}-{time.time_ns() % 10**6}", solve_limit, 556)
    phones = [j["customer"]["phone"] for j in request["jobs"]]
    unsubscribed = phones[:3]  # Twilio refuses them (21610): the notifier must then stop trying
    replies_stop = phones[10:13]  # reply STOP at the fifth step
    for phone in unsubscribed:
        fake.numbers[phone] = "21610"
    opted_out: dict[str, float] = {}
    stats = {
        "steps": 0,
        "departures": 0,
        "delays": 0,
        "emergencies": 0,
        "kills": 0,
        "unacked_at_kills": 0,
        "sending_at_kills": 0,
        "server_kills": 0,
        "server_kills_between": 0,
    }
    server = DispatchProcess({"DISPATCH_REDIS_URL": redis_url}, args=SERVE_ARGS, stderr=None, ready_within=120)
    try:
        with notifier_process(hook) as notifier:
            stub = server.stub
            plan = stub.Solve(json_format.ParseDict(request, pb.SolveRequest()), timeout=solve_limit + 60).plan
            follow = Replay(stub, request, 0.5)
            follow.plan = plan
            epoch = follow.epoch
            start = min(unix(t["shift"]["start"]) for t in request["technicians"])
            end = max(unix(t["shift"]["end"]) for t in request["technicians"])
            step = 0
            for now in range(start + step_minutes * 60, end, step_minutes * 60):
                step += 1
                events = follow.progress(now - epoch)
                stats["departures"] += sum(1 for e in events if e["progress"]["kind"] == "DEPARTED")
                in_progress = [
                    v.job_id
                    for r in follow.plan.routes
                    for v in r.visits
                    if v.start.seconds <= now < v.end.seconds and v.status != pb.VISIT_COMPLETED
                ]
                if step in (3, 9, 15) and in_progress:  # a job runs 40 minutes long
                    events.append({"delay": {"job_id": in_progress[0], "extra": "2400s"}})
                    stats["delays"] += 1
                if step in (4, 12, 18):
                    events.append({"new_job": emergency_job(request["jobs"][step], step)})
                    stats["emergencies"] += 1
                if step == 7:
                    planned = [v.job_id for r in follow.plan.routes for v in r.visits if v.status == pb.VISIT_PLANNED]
                    if planned:
                        events.append({"cancel_job": {"job_id": planned[-1]}})
                if step == 14:
                    events.append({"technician_unavailable": {"technician_id": follow.plan.routes[0].technician_id}})
                if step == 5:
                    for phone in replies_stop:
                        assert inbound(port, phone, "STOP") == 200
                        opted_out[phone] = time.monotonic()
                if events and step in server_kills:
                    request_id = f"step-{step}"
                    sent = replan_request(follow.plan, now, events, 0.5, request_id)
                    follow.plan, server, between = reoptimize_through_a_crash(server, client, sent, 0.5)
                    follow.stub = server.stub
                    stats["server_kills"] += 1
                    stats["server_kills_between"] += int(between)
                elif events:
                    follow.plan = reoptimize(server.stub, follow.plan, now, events, 0.5)
                stats["steps"] = step
                if step in kills:
                    notifier.kill()  # mid-flight: texts of this step are being sent
                    stats["kills"] += 1
                    stats["unacked_at_kills"] += int(client.xpending(STREAM_KEY, "notifier")["pending"])
                    keys = list(client.scan_iter(f"dispatch:sms:{request['plan_id']}:*", count=1000))
                    stats["sending_at_kills"] += sum(1 for v in client.mget(keys) if v and v.startswith(b"sending:"))
                    time.sleep(0.5)
                    if len(kills) > 1 and step == kills[-1]:
                        notifier.consumer += "-new"  # its events wait until they are stale, then move over
                    notifier.start()  # the same name resumes its unacknowledged events at once
                time.sleep(pause)  # 20 minutes of the day
            wait_quiet(fake, settle=3.0, within=240, stream=client)
            for phone in unsubscribed:  # from its first refusal on
                first = next((at for at, to in fake.arrivals if to == phone), None)
                opted_out[phone] = first if first is not None else 0.0
            plan_ids = {request["plan_id"]}
            result = audit(client, fake, plan_ids, opted_out)
            result.update(stats, settle=settle, pause=pause)
            result["tries_unsubscribed"] = sum(fake.tries[p] for p in unsubscribed)
            result["callbacks_failed"] = fake.callbacks_failed
            return result
    finally:
        server.stop()
        fake.close()


# ---------------------------------------------------------------------------- 3. outage


def outage(redis_url: str, solve_limit: float, seconds: float, window: int) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()  # each run on its own
    fake = FakeTwilio(callbacks=True)
    hook = twilio_env(fake, free_port()) | {"DISPATCH_REDIS_URL": redis_url, "DISPATCH_HEALTH_WINDOW": str(window)}
    request = day(f"bench-outage-{os.getpid()}-{time.time_ns() % 10**6}", solve_limit, 557)
    invalid = request["jobs"][5]["customer"]["phone"]
    fake.numbers[invalid] = "21211"
    timeline: list[tuple[float, str, int, int]] = []
    try:
        with (
            served(workers=2, redis_url=redis_url, env={"DISPATCH_HEALTH_WINDOW": str(window)}) as address,
            notifier_process(hook),
            grpc.insecure_channel(address) as channel,
        ):
            stub = dispatch_pb2_grpc.DispatchStub(channel)

            def health() -> pb.IntegrationHealth:
                reply = stub.GetIntegrationHealth(pb.GetIntegrationHealthRequest(), timeout=10)
                return next(h for h in reply.integrations if h.integration == "twilio")

            fake.fail_for(seconds, ["429", "500"])
            began = time.monotonic()
            plan = stub.Solve(json_format.ParseDict(request, pb.SolveRequest()), timeout=solve_limit + 60).plan
            assigned = plan.stats.jobs_assigned
            phone_of = {j["id"]: j["customer"]["phone"] for j in request["jobs"]}
            expected = {phone_of[v.job_id] for r in plan.routes for v in r.visits} - {invalid}
            all_sent_at = None
            # The day goes on: every 5 s, the technicians move 10 minutes along the plan (en-route
            # texts), so the health report has traffic to judge after the outage.
            follow = Replay(stub, request, 0.3)
            follow.plan = plan
            now = min(unix(t["shift"]["start"]) for t in request["technicians"])
            while time.monotonic() - began < seconds + window + 90:
                h = health()
                timeline.append((time.monotonic() - began, h.status, h.attempts, h.errors))
                if all_sent_at is None and expected <= {to for _, to in list(fake.arrivals)}:
                    all_sent_at = time.monotonic() - began
                if all_sent_at is not None and h.status == "healthy" and time.monotonic() - began > seconds:
                    break
                now += 600
                events = follow.progress(now - follow.epoch)
                if events:
                    follow.plan = reoptimize(stub, follow.plan, now, events, 0.3)
                time.sleep(5)
            wait_quiet(fake, settle=2.0, within=60, stream=client)
            result = audit(client, fake, {request["plan_id"]}, {invalid: 0.0})  # refused once: never tried again
            result.update(
                outage_s=seconds,
                window_s=window,
                assigned=assigned,
                all_sent_s=all_sent_at,
                tries_invalid=fake.tries[invalid],
                attempts_at_twilio=fake.attempts,
                degraded_seen=any(s == "degraded" for _, s, _, _ in timeline),
                final_status=timeline[-1][1] if timeline else "",
                timeline=timeline,
            )
            return result
    finally:
        fake.close()


# ---------------------------------------------------------------------------- report


def report(emergency: list[dict[str, Any]], replayed: dict[str, Any] | None, down: dict[str, Any] | None) -> str:
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{datetime.now(UTC):%Y-%m-%d}.",
        "",
    ]
    if emergency:
        lines += [
            "### Emergency called in → text accepted by Twilio (target p95 ≤ 2 s)",
            "",
            "| notifier | emergencies | texted | unassigned | missing | p50 | p95 | max |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in emergency:
            lines.append(
                f"| {r['mode']} | {r['emergencies']} | {r['texted']} | {r['unassigned']} | {r['missing']} | "
                f"{r['p50'] * 1000:.0f} ms | {r['p95'] * 1000:.0f} ms | {r['max'] * 1000:.0f} ms |"
            )
        lines.append("")
    if replayed:
        r = replayed
        lines += [
            "### A replayed day, the notifier killed (SIGKILL) and restarted mid-day",
            "",
            f"20-minute steps {r['pause']:g} s apart, moves told once they have held {r['settle']:g} s "
            "(`DISPATCH_ETA_SETTLE`; 30 s by default).",
            "",
            f"{r['steps']} steps, {r['departures']} departures, {r['delays']} delays, {r['emergencies']} emergencies, "
            f"{r['kills']} kill(s) of the notifier with {r['unacked_at_kills']} event(s) unacknowledged and "
            f"{r['sending_at_kills']} text(s) caught mid-send (claimed, outcome not recorded) in all at the kills; "
            f"the last restart under a new consumer name; {r['server_kills']} kill(s) of the server in a re-plan, "
            f"{r['server_kills_between']} of them between storing the version and answering (that version's texts "
            "must still go out once; the retry with the same request_id gets the version stored).",
            "",
            "Texts due: one per confirmation, departure and emergency event (moves are held until they settle and told "
            "only if still news: checked by the customers left with a stale ETA, i.e. whose last text does not carry "
            "their visit's last ETA). Unaccounted: texts at Twilio that no dedupe key owns (a text sent twice). Same "
            "text twice: an ETA that went back to a window told before, in a later step (told again, rightly).",
            "",
            "| texts due | sent once | refused (21610) | skipped (opted out) | missing | moves (events) | update texts | "
            "stale ETAs | at Twilio | unaccounted | same text twice | after opt-out | tries to unsubscribed |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {r['events_due']} | {r['sent_once']} | {r['refused']} | {r['skipped_opted_out']} | {r['missing']} | "
            f"{r['moves']} | {r['updates']} | {r['stale_etas']} | {r['texts_at_twilio']} | {r['unaccounted_texts']} | "
            f"{r['same_text_twice']} | {r['after_opt_out']} | {r['tries_unsubscribed']} |",
            "",
        ]
        if r["problems"]:
            lines += [f"- {p}" for p in r["problems"]] + [""]
    if down:
        r = down
        lines += [
            f"### Twilio answering 429/500 for {r['outage_s']:g} s (health window {r['window_s']} s)",
            "",
            f"{r['assigned']} visits planned as the outage began (an appointment text each); all of them at Twilio "
            f"after {(r['all_sent_s'] or float('nan')):.0f} s; then the day goes on (en-route texts every 5 s); "
            f"{r['attempts_at_twilio']} creates in all.",
            "",
            "| texts due | sent once | refused (21211) | skipped (invalid number) | missing | unaccounted | "
            "same text twice | tries to the invalid number |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {r['events_due']} | {r['sent_once']} | {r['refused']} | {r['skipped_opted_out']} | {r['missing']} | "
            f"{r['unaccounted_texts']} | {r['same_text_twice']} | {r['tries_invalid']} |",
            "",
            "Health of `twilio` (GetIntegrationHealth) over time:",
            "",
            "| s | status | attempts | errors |",
            "| --- | --- | --- | --- |",
        ]
        if r["problems"]:
            lines += [f"- {p}" for p in r["problems"]] + [""]
        shown, last = [], None
        for t, status, attempts, errors in r["timeline"]:
            if status != last or t == r["timeline"][-1][0]:
                shown.append(f"| {t:.0f} | {status} | {attempts} | {errors} |")
                last = status
        lines += shown + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emergencies", type=int, default=30)
    parser.add_argument("--solve-time", type=float, default=3.0)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds Twilio fails")
    parser.add_argument("--health-window", type=int, default=120, help="the health report's window in the outage run")
    parser.add_argument("--only", choices=["emergency", "day", "outage"], action="append")
    parser.add_argument(
        "--kills", default=",".join(map(str, KILLS)), help="steps after which the notifier is killed ('' for none)"
    )
    parser.add_argument(
        "--server-kills",
        default=",".join(map(str, SERVER_KILLS)),
        help="steps whose re-plan the server is killed in, once the version is stored ('' for none)",
    )
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between the replayed day's 20-minute steps")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    runs = set(args.only or ["emergency", "day", "outage"])
    server = RedisServer().start()
    try:
        emergency = []
        if "emergency" in runs:
            emergency.append(emergencies("in process", args.emergencies, None, args.solve_time))
            emergency.append(emergencies("own process", args.emergencies, server.url, args.solve_time))
        kills = tuple(int(k) for k in args.kills.split(",") if k.strip())
        server_kills = tuple(int(k) for k in args.server_kills.split(",") if k.strip())
        replayed = (
            replayed_day(server.url, args.solve_time, kills, server_kills, pause=args.pause) if "day" in runs else None
        )
        down = outage(server.url, args.solve_time, args.outage, args.health_window) if "outage" in runs else None
    finally:
        server.close()
    text = report(emergency, replayed, down)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    ok = all(r["missing"] == 0 for r in emergency)
    for r in (replayed, down):
        if r:  # "same text twice" is shown, not judged: two ETA buckets can render the same window
            ok = ok and r["missing"] == 0 and r["unaccounted_texts"] == 0 and r["stale_etas"] == 0
    if replayed:
        ok = ok and replayed["after_opt_out"] == 0
    if down:
        ok = ok and down["tries_invalid"] == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
