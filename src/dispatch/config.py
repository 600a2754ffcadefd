"""The service's configuration: one ``Settings`` object, read once from the environment
(``Settings.from_env``) by the composition root (``dispatch.bootstrap``) or given by a test."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatch.errors import ConfigError
from dispatch.eta import DEFAULT_THRESHOLD
from dispatch.secrets import read_file, read_number, read_secret
from dispatch.validate import DEFAULT_LIMITS, PHONE_RULE, Limits, e164_phone

#: Where the Google Maps Platform and Twilio's REST API are (tests point both at local servers).
GOOGLE_BASE_URL = "https://maps.googleapis.com"
#: The Routes API's REST base (travel_model ROUTES): requests go to ``{base}/distanceMatrix/v2:computeRouteMatrix``.
ROUTES_BASE_URL = "https://routes.googleapis.com"
#: How the Routes API times a departure with traffic (``DISPATCH_GOOGLE_ROUTES_TRAFFIC``).
ROUTES_TRAFFIC = ("TRAFFIC_AWARE", "TRAFFIC_AWARE_OPTIMAL")
TWILIO_BASE_URL = "https://api.twilio.com"


@dataclass(frozen=True)
class CachePolicy:
    #: Static times change when roads do.
    static_ttl: int = 30 * 86_400
    #: Traffic predictions are refreshed this often.
    traffic_ttl: int = 3_600
    #: Width of a traffic bucket, seconds (a divisor of a day).
    traffic_bucket: int = 3_600
    #: Geocodes (found), and addresses Google did not find (they may be fixed upstream).
    place_ttl: int = 30 * 86_400
    place_missing_ttl: int = 86_400


@dataclass(frozen=True)
class GoogleSettings:
    """How to reach Google. The key is a secret: it is never logged or put in an error."""

    api_key: str = field(repr=False)
    base_url: str = GOOGLE_BASE_URL
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    #: The client's retries (5xx, OVER_QUERY_LIMIT) stop after this long, or at the RPC deadline.
    retry_timeout: float = 8.0
    #: Shared by every request of this process (Google's default quota is 60,000 / min).
    elements_per_minute: int = 60_000
    #: Requests in flight at once for one matrix.
    concurrency: int = 4
    mode: str = "driving"
    traffic_model: str = "best_guess"
    #: travel_model ROUTES: the Routes API's REST base (``DISPATCH_GOOGLE_ROUTES_URL``) and its
    #: routing preference with traffic (``TRAFFIC_AWARE``; ``TRAFFIC_AWARE_OPTIMAL``: 100 elements a request).
    routes_url: str = ROUTES_BASE_URL
    routes_traffic: str = "TRAFFIC_AWARE"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GoogleSettings | None:
        """From ``GOOGLE_MAPS_API_KEY`` (or the file ``GOOGLE_MAPS_API_KEY_FILE`` names) and
        ``DISPATCH_GOOGLE_*``; ``None`` without a key."""
        env = os.environ if environ is None else environ
        key = read_secret(env, "GOOGLE_MAPS_API_KEY")
        if not key:
            return None
        numbers = {
            "connect_timeout": ("DISPATCH_GOOGLE_CONNECT_TIMEOUT", float),
            "read_timeout": ("DISPATCH_GOOGLE_READ_TIMEOUT", float),
            "retry_timeout": ("DISPATCH_GOOGLE_RETRY_TIMEOUT", float),
            "elements_per_minute": ("DISPATCH_GOOGLE_ELEMENTS_PER_MINUTE", int),
            "concurrency": ("DISPATCH_GOOGLE_CONCURRENCY", int),
        }
        values: dict[str, object] = {}
        for name, (var, kind) in numbers.items():
            value = read_number(env, var, kind, low=-math.inf)
            if value is not None:
                values[name] = value
        base = env.get("DISPATCH_GOOGLE_MAPS_BASE_URL", "").rstrip("/") or GOOGLE_BASE_URL
        routes = env.get("DISPATCH_GOOGLE_ROUTES_URL", "").rstrip("/") or ROUTES_BASE_URL
        traffic = env.get("DISPATCH_GOOGLE_ROUTES_TRAFFIC", "").strip().upper() or "TRAFFIC_AWARE"
        if traffic not in ROUTES_TRAFFIC:
            raise ConfigError(f"DISPATCH_GOOGLE_ROUTES_TRAFFIC: one of {', '.join(ROUTES_TRAFFIC)}")
        return cls(api_key=key, base_url=base, routes_url=routes, routes_traffic=traffic, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str = ""
    messaging_service_sid: str = ""
    base_url: str = TWILIO_BASE_URL
    timeout: float = 5.0
    #: The public base URL of our webhook (``DISPATCH_TWILIO_WEBHOOK_URL``), if any: delivery
    #: statuses are posted to it plus ``/status``, replies (the number's incoming-message webhook,
    #: set in Twilio's console) to it plus ``/inbound``.
    webhook_url: str = ""
    #: The port the webhook listens on (``DISPATCH_WEBHOOK_PORT``).
    webhook_port: int = 8080

    @property
    def status_callback(self) -> str:
        return f"{self.webhook_url}/status" if self.webhook_url else ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TwilioSettings | None:
        env = os.environ if environ is None else environ
        sid, token = env.get("TWILIO_ACCOUNT_SID", ""), read_secret(env, "TWILIO_AUTH_TOKEN")
        sender, service = env.get("TWILIO_FROM_NUMBER", ""), env.get("TWILIO_MESSAGING_SERVICE_SID", "")
        if not (sid and token and (sender or service)):
            return None
        return cls(
            account_sid=sid,
            auth_token=token,
            from_number=sender,
            messaging_service_sid=service,
            base_url=(env.get("DISPATCH_TWILIO_BASE_URL", "").rstrip("/") or TWILIO_BASE_URL),
            timeout=_or(read_number(env, "DISPATCH_TWILIO_TIMEOUT", float, above=True), 5.0),
            webhook_url=env.get("DISPATCH_TWILIO_WEBHOOK_URL", "").rstrip("/"),
            webhook_port=_or(read_number(env, "DISPATCH_WEBHOOK_PORT", int, above=True), 8080),
        )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything configurable, read once from the environment (``from_env``)."""

    workers: int = 2
    #: The solver workers' CPU niceness (``DISPATCH_WORKER_NICENESS``, 0-19): at 19 they take every
    #: idle cycle and yield to the gRPC front at once; lower it where other busy processes share the
    #: machine and would starve them (the test suite runs its servers at 0).
    worker_niceness: int = 19
    max_waiting: int = 8
    #: Calls in progress at once, health checks excepted (``DISPATCH_MAX_CALLS``): more are
    #: refused RESOURCE_EXHAUSTED before their request is read.
    max_calls: int = 64
    #: Seconds an admitted call may take to send its request message (``DISPATCH_REQUEST_WAIT``).
    request_wait: float = 30.0
    #: Calls in progress on one client connection (``DISPATCH_MAX_CALLS_PER_CONNECTION``): more
    #: are refused RESOURCE_EXHAUSTED before their request is read.
    max_calls_per_connection: int = 32
    #: Bytes the running requests may take together, by their estimates (``dispatch.cost``;
    #: ``DISPATCH_MEMORY_BUDGET``).
    memory_budget: int = 4 * 1024**3
    #: Bytes one request may take (``DISPATCH_MAX_REQUEST_MEMORY``): over it, INVALID_ARGUMENT.
    max_request_memory: int = 2 * 1024**3
    #: Bytes of plans the in-process plan store keeps (``DISPATCH_MEMORY_STORE_BYTES``; no Redis).
    memory_store_bytes: int = 512 * 1024**2
    limits: Limits = field(default_factory=Limits)
    circuity: float = 1.35
    speed_kmh: float = 35.0
    #: Seconds kept back from the RPC deadline to build the answer and send it.
    deadline_margin: float = 0.5
    #: Re-plan search budget when the request sets none (the quick answer comes first regardless).
    reopt_time_limit: float = 2.0
    #: A customer's promised window: their visit's planned start ± this many seconds.
    promise_slack: int = 1800
    #: Plans, the travel cache (and later the ETA stream) in Redis, shared by replicas; None: in process.
    redis_url: str | None = None
    #: travel_model GOOGLE (from GOOGLE_MAPS_API_KEY and DISPATCH_GOOGLE_*); None: not offered.
    google: GoogleSettings | None = None
    cache: CachePolicy = field(default_factory=CachePolicy)
    #: Pairs the in-process travel cache holds (without Redis).
    cache_max_entries: int = 2_000_000
    #: An ETA that moves this many seconds from the one announced is announced again.
    eta_threshold: int = DEFAULT_THRESHOLD
    #: Texts through Twilio (TWILIO_* and DISPATCH_TWILIO_*); None: the notifier logs them.
    twilio: TwilioSettings | None = None
    #: The business's texts and values (DISPATCH_MESSAGES_FILE); None: the defaults.
    messages_path: str | None = None
    #: Where customers' replies (other than STOP/START) are forwarded (``DISPATCH_OFFICE_PHONE``,
    #: E.164, separators allowed: kept as E.164); "": not forwarded, only recorded on the replies stream.
    office_phone: str = ""
    #: Texts sent at once by a notifier (DISPATCH_NOTIFIER_SENDERS).
    notifier_senders: int = 8
    #: The in-process notifier's name in the consumer group (``DISPATCH_NOTIFIER_CONSUMER``); a
    #: restarted server under the same name resumes its unfinished events at once and settles a text
    #: it was sending after the Twilio timeout + 5 s (another name: after 60 s and the 45 s lease).
    #: Default: ``serve-<host name>-<pid>`` (a container's host name and pid 1 repeat).
    notifier_consumer: str | None = None
    #: Seconds before the ETA an appointment is confirmed (DISPATCH_APPOINTMENT_LEAD).
    appointment_lead: int = 86_400
    #: Seconds a moved ETA must hold before it is texted (DISPATCH_ETA_SETTLE).
    eta_settle: float = 30.0
    #: Seconds the integration health report looks back (DISPATCH_HEALTH_WINDOW; the seed's 24 h).
    health_window: int = 86_400

    #: Bearer tokens a call may present (``DISPATCH_AUTH_TOKEN`` or ``DISPATCH_AUTH_TOKEN_FILE``,
    #: several separated by commas or new lines while one is rotated out); empty: none asked for.
    auth_tokens: tuple[str, ...] = field(default=(), repr=False)
    #: The server's TLS certificate and key, and the CA of client certificates (mTLS); None: plaintext.
    tls: Tls | None = None
    #: The largest request the server reads (``DISPATCH_MAX_REQUEST_BYTES``); larger: RESOURCE_EXHAUSTED.
    max_request_bytes: int = 64 * 1024 * 1024
    #: The Prometheus metrics port (``DISPATCH_METRICS_PORT``; 0 or None: no endpoint). A port set
    #: explicitly must be free at start-up; the default one (``metrics_required`` False) is skipped
    #: with a warning when another process holds it (two servers on one host).
    metrics_port: int | None = None
    metrics_required: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
        """The settings the environment gives, ``overrides`` (not None) on top.

        Raises
        ------
        ConfigError
            Every variable that cannot be used, by name (a secret's value is never shown).
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        bad: list[str] = []

        def number(
            var: str,
            name: str,
            kind: type,
            *,
            low: float = 0,
            high: float | None = None,
            into: dict[str, object] = values,
        ) -> None:
            try:
                value = read_number(env, var, kind, low=low, high=high)
            except ConfigError as exc:
                bad.append(str(exc))
                return
            if value is not None:
                into[name] = value

        number("DISPATCH_WORKERS", "workers", int, low=1)
        number("DISPATCH_WORKER_NICENESS", "worker_niceness", int, high=19)
        number("DISPATCH_MAX_WAITING", "max_waiting", int)
        number("DISPATCH_MAX_CALLS", "max_calls", int, low=1)
        number("DISPATCH_REQUEST_WAIT", "request_wait", float, low=0.1)
        number("DISPATCH_MAX_CALLS_PER_CONNECTION", "max_calls_per_connection", int, low=1)
        number("DISPATCH_MEMORY_BUDGET", "memory_budget", int, low=64 * 1024**2)
        number("DISPATCH_MAX_REQUEST_MEMORY", "max_request_memory", int, low=16 * 1024**2)
        number("DISPATCH_MEMORY_STORE_BYTES", "memory_store_bytes", int, low=1024**2)
        number("DISPATCH_GC_CIRCUITY", "circuity", float, low=1)
        number("DISPATCH_GC_SPEED_KMH", "speed_kmh", float, low=1)
        number("DISPATCH_REOPT_TIME_LIMIT", "reopt_time_limit", float, low=0.1)
        number("DISPATCH_PROMISE_SLACK", "promise_slack", int)
        number("DISPATCH_NOTIFIER_SENDERS", "notifier_senders", int, low=1)
        number("DISPATCH_ETA_SETTLE", "eta_settle", float)
        number("DISPATCH_APPOINTMENT_LEAD", "appointment_lead", int)
        number("DISPATCH_HEALTH_WINDOW", "health_window", int, low=60)
        number("DISPATCH_ETA_THRESHOLD", "eta_threshold", int, low=1)
        number("DISPATCH_CACHE_MAX_ENTRIES", "cache_max_entries", int, low=1)
        number("DISPATCH_MAX_REQUEST_BYTES", "max_request_bytes", int, low=1024)
        number("DISPATCH_METRICS_PORT", "metrics_port", int)
        policy: dict[str, object] = {}
        for name in ("static_ttl", "traffic_ttl", "traffic_bucket", "place_ttl", "place_missing_ttl"):
            number(f"DISPATCH_CACHE_{name.upper()}", name, int, low=1, into=policy)
        limits: dict[str, object] = {}
        number("DISPATCH_MAX_JOBS", "max_jobs", int, low=1, into=limits)
        number("DISPATCH_MAX_TECHNICIANS", "max_technicians", int, low=1, into=limits)
        number("DISPATCH_MAX_TIME_LIMIT", "max_time_limit", float, low=0.1, into=limits)

        def twilio() -> object:
            return TwilioSettings.from_env(env)

        for name, read in (
            ("redis_url", lambda: read_secret(env, "DISPATCH_REDIS_URL") or None),
            ("auth_tokens", lambda: _tokens(read_secret(env, "DISPATCH_AUTH_TOKEN"))),
            ("tls", lambda: Tls.from_env(env)),
            ("google", lambda: GoogleSettings.from_env(env)),
            ("twilio", twilio),
        ):
            try:
                values[name] = read()
            except (ConfigError, ValueError) as exc:
                bad.append(str(exc))
        if env.get("DISPATCH_OFFICE_PHONE", "").strip():
            office = e164_phone(env["DISPATCH_OFFICE_PHONE"].strip())
            if office is None:  # the value is not shown: a phone number never reaches a log line
                bad.append(f"DISPATCH_OFFICE_PHONE: {PHONE_RULE}")
            else:
                values["office_phone"] = office
        if bad:
            raise ConfigError("configuration: " + "; ".join(bad))
        if policy:
            values["cache"] = CachePolicy(**policy)  # type: ignore[arg-type]
        if limits:
            values["limits"] = dataclasses.replace(DEFAULT_LIMITS, **limits)  # type: ignore[arg-type]
        if env.get("DISPATCH_MESSAGES_FILE"):
            values["messages_path"] = env["DISPATCH_MESSAGES_FILE"]
        if env.get("DISPATCH_NOTIFIER_CONSUMER"):
            values["notifier_consumer"] = env["DISPATCH_NOTIFIER_CONSUMER"]
        if values.get("metrics_port") == 0:
            values["metrics_port"] = None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class Tls:
    """The server's TLS material (PEM): its certificate chain and key and, for mutual TLS, the CA
    that signs client certificates."""

    cert_chain: bytes
    private_key: bytes = field(repr=False)
    client_ca: bytes | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tls | None:
        """From ``DISPATCH_TLS_CERT_FILE`` and ``DISPATCH_TLS_KEY_FILE`` (both or neither) and
        ``DISPATCH_TLS_CLIENT_CA_FILE`` (optional: client certificates then required)."""
        cert, key = read_file(env, "DISPATCH_TLS_CERT_FILE"), read_file(env, "DISPATCH_TLS_KEY_FILE")
        ca = read_file(env, "DISPATCH_TLS_CLIENT_CA_FILE")
        if cert is None and key is None:
            if ca is not None:
                raise ConfigError("DISPATCH_TLS_CLIENT_CA_FILE needs DISPATCH_TLS_CERT_FILE and DISPATCH_TLS_KEY_FILE")
            return None
        if cert is None or key is None:
            raise ConfigError("DISPATCH_TLS_CERT_FILE and DISPATCH_TLS_KEY_FILE go together")
        return cls(cert_chain=cert, private_key=key, client_ca=ca)


#: What a bearer token may hold (RFC 6750's b64token).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _tokens(raw: str) -> tuple[str, ...]:
    """The tokens in ``raw`` (separated by commas or white space).

    Raises
    ------
    ConfigError
        A token with characters a bearer token cannot carry, or one shorter than 16 characters.
    """
    tokens = tuple(t for t in re.split(r"[\s,]+", raw) if t)
    for k, token in enumerate(tokens):
        if not _TOKEN.fullmatch(token):
            raise ConfigError(f"DISPATCH_AUTH_TOKEN: token {k + 1} has characters a bearer token cannot hold")
        if len(token) < 16:
            raise ConfigError(f"DISPATCH_AUTH_TOKEN: token {k + 1} is shorter than 16 characters")
    return tokens
