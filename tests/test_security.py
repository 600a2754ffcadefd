"""Security over real loopback channels: bearer tokens (UNAUTHENTICATED without one, on every RPC),
TLS and mutual TLS with certificates made for the test, the request limits, and secrets that come
from the environment or files and never reach a log line or an error."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dispatch import cli
from dispatch.config import Settings, Tls
from dispatch.errors import ConfigError
from dispatch.server.app import DispatchServer
from dispatch.server.client import channel as connect
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc
from dispatch.validate import DEFAULT_LIMITS
from tests.support.console_requests import burst_pipe, small_day, to_proto
from tests.support.fake_google import KEY as GOOGLE_KEY
from tests.support.fake_google import FakeGoogle
from tests.support.fake_twilio import SID, TOKEN, FakeTwilio
from tests.support.pki import make_pki
from tests.support.served import DispatchProcess
from tests.test_server import field_violations

TOKEN_A = "console-token-0123456789abcdef"
TOKEN_B = "rotated-token-fedcba9876543210"
SERVICE = pb.DESCRIPTOR.services_by_name["Dispatch"]


@pytest.fixture(scope="module")
def guarded():
    """A server asking for a bearer token (two accepted: one being rotated in), with small limits."""
    limits = dataclasses.replace(DEFAULT_LIMITS, max_jobs=12, max_time_limit=5.0)
    settings = Settings(
        worker_niceness=0, workers=1, auth_tokens=(TOKEN_A, TOKEN_B), limits=limits, max_request_bytes=200_000
    )
    srv = DispatchServer(settings, host="127.0.0.1", port=0)
    srv.start()
    yield srv
    srv.stop(grace=1)


def call(ch: grpc.Channel, method, request, metadata=(), timeout: float = 30.0):
    """Any method of the Dispatch service, by its descriptor, unary or server-streaming."""
    path = f"/{SERVICE.full_name}/{method.name}"
    reply_type = getattr(pb, method.output_type.name)
    if method.server_streaming:
        stream = ch.unary_stream(path, request_serializer=type(request).SerializeToString)
        return list(stream(request, metadata=metadata, timeout=timeout))
    unary = ch.unary_unary(path, request_serializer=type(request).SerializeToString)
    return reply_type.FromString(unary(request, metadata=metadata, timeout=timeout))


def test_every_rpc_without_a_valid_bearer_token_is_unauthenticated(guarded):
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as ch:
        for method in SERVICE.methods:
            request = getattr(pb, method.input_type.name)()
            for metadata in ((), (("authorization", "Bearer wrong-token-000000000"),), (("authorization", TOKEN_A),)):
                with pytest.raises(grpc.RpcError) as refused:
                    call(ch, method, request, metadata, timeout=5)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, (method.name, metadata)
                assert TOKEN_A not in refused.value.details()
        # the health service stays open: probes carry no credentials
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_either_configured_token_is_accepted(guarded):
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as ch:
        stub = dispatch_pb2_grpc.DispatchStub(ch)
        for token in (TOKEN_A, TOKEN_B):
            plan = stub.Solve(to_proto(small_day(jobs=4)), metadata=(("authorization", f"Bearer {token}"),), timeout=30)
            assert plan.plan.version >= 1
        reply, call_ = stub.GetPlan.with_call(
            pb.GetPlanRequest(plan_id="small-day"),
            metadata=(("authorization", f"bearer {TOKEN_B}"), ("x-request-id", "console-42")),
            timeout=5,
        )
        assert reply.plan.plan_id == "small-day"
        assert ("x-request-id", "console-42") in call_.initial_metadata()


def test_limits_are_clear_errors(guarded):
    auth = (("authorization", f"Bearer {TOKEN_A}"),)
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}", options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        stub = dispatch_pb2_grpc.DispatchStub(ch)
        too_many = small_day(jobs=13)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Solve(to_proto(too_many), metadata=auth, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 12" in field_violations(refused.value)["jobs"]
        slow = small_day(jobs=2, time_limit="30s")
        with pytest.raises(grpc.RpcError) as refused:
            stub.Solve(to_proto(slow), metadata=auth, timeout=10)
        assert "options.time_limit" in field_violations(refused.value)
        huge = small_day(jobs=2)
        huge["jobs"][0]["service_type"] = "x" * 300_000
        with pytest.raises(grpc.RpcError) as refused:
            stub.Solve(to_proto(huge), metadata=auth, timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in refused.value.details()
        assert stub.Solve(to_proto(small_day(jobs=2)), metadata=auth, timeout=30).plan.version >= 1  # still serving


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_settings(pki, *, mutual: bool) -> Settings:
    return Settings(
        worker_niceness=0,
        workers=1,
        tls=Tls(
            cert_chain=pki.server_cert.read_bytes(),
            private_key=pki.server_key.read_bytes(),
            client_ca=pki.ca.read_bytes() if mutual else None,
        ),
    )


def test_tls_serves_only_tls_clients(pki):
    srv = DispatchServer(tls_settings(pki, mutual=False), host="127.0.0.1", port=0)
    srv.start()
    try:
        address = f"localhost:{srv.port}"
        with connect(address, {"DISPATCH_TLS_CA_FILE": str(pki.ca)}) as ch:
            plan = dispatch_pb2_grpc.DispatchStub(ch).Solve(to_proto(small_day(jobs=2)), timeout=30).plan
            assert plan.version >= 1
        with grpc.insecure_channel(address) as ch, pytest.raises(grpc.RpcError) as refused:
            dispatch_pb2_grpc.DispatchStub(ch).GetPlan(pb.GetPlanRequest(plan_id="small-day"), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        srv.stop(grace=1)


def test_mutual_tls_wants_a_client_certificate_its_ca_signed(pki, monkeypatch, tmp_path):
    srv = DispatchServer(tls_settings(pki, mutual=True), host="127.0.0.1", port=0)
    srv.start()
    try:
        address = f"localhost:{srv.port}"
        client = {
            "DISPATCH_TLS_CA_FILE": str(pki.ca),
            "DISPATCH_TLS_CLIENT_CERT_FILE": str(pki.client_cert),
            "DISPATCH_TLS_CLIENT_KEY_FILE": str(pki.client_key),
        }
        with connect(address, client) as ch:
            assert dispatch_pb2_grpc.DispatchStub(ch).Solve(to_proto(small_day(jobs=2)), timeout=30).plan.version >= 1
        stranger = {
            **client,
            "DISPATCH_TLS_CLIENT_CERT_FILE": str(pki.stranger_cert),
            "DISPATCH_TLS_CLIENT_KEY_FILE": str(pki.stranger_key),
        }
        for env in ({"DISPATCH_TLS_CA_FILE": str(pki.ca)}, stranger):  # no certificate; one another CA signed
            with connect(address, env) as ch, pytest.raises(grpc.RpcError) as refused:
                dispatch_pb2_grpc.DispatchStub(ch).GetPlan(pb.GetPlanRequest(plan_id="small-day"), timeout=3)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # refused at the handshake
        # the CLI takes the same settings from the environment
        for name, value in client.items():
            monkeypatch.setenv(name, value)
        request = tmp_path / "day.json"
        request.write_text(json.dumps(small_day(jobs=2)))
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["solve", str(request), "--server", address, "--replace"]) == 0
    finally:
        srv.stop(grace=1)


def test_bad_security_settings_name_the_variable_never_the_secret(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({"DISPATCH_AUTH_TOKEN": "s3cr3t!"})
    assert "DISPATCH_AUTH_TOKEN" in str(bad.value) and "s3cr3t" not in str(bad.value)
    with pytest.raises(ConfigError, match="DISPATCH_TLS_CERT_FILE: cannot read"):
        Settings.from_env({"DISPATCH_TLS_CERT_FILE": str(tmp_path / "missing.pem")})
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="DISPATCH_TLS_CERT_FILE and DISPATCH_TLS_KEY_FILE go together"):
        Settings.from_env({"DISPATCH_TLS_CERT_FILE": str(tmp_path / "cert.pem")})
    with pytest.raises(ConfigError, match="DISPATCH_WORKERS='two': not an integer"):
        Settings.from_env({"DISPATCH_WORKERS": "two"})
    secret = tmp_path / "token"
    secret.write_text(f"{TOKEN_A}\n{TOKEN_B}\n")
    assert Settings.from_env({"DISPATCH_AUTH_TOKEN_FILE": str(secret)}).auth_tokens == (TOKEN_A, TOKEN_B)
    assert TOKEN_A not in repr(Settings.from_env({"DISPATCH_AUTH_TOKEN_FILE": str(secret)}))
    monkeypatch.setenv("DISPATCH_AUTH_TOKEN", "short s3cr3t")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(["serve", "--port", "0"]) == 2  # refused before anything starts
    assert "DISPATCH_AUTH_TOKEN: token 1" in err.getvalue() and "s3cr3t" not in err.getvalue()


def test_secrets_from_files_never_reach_the_log_or_an_answer(tmp_path):
    """A ``dispatch serve`` process with every secret in a file, logging everything (debug, JSON)
    while it plans a GOOGLE day, texts its customers and refuses bad calls: no line holds a
    secret or a phone number, and every line of an RPC carries its request id."""
    google, twilio = FakeGoogle(), FakeTwilio()
    key = GOOGLE_KEY
    files = {"GOOGLE_MAPS_API_KEY": key, "TWILIO_AUTH_TOKEN": TOKEN, "DISPATCH_AUTH_TOKEN": TOKEN_A}
    env: dict[str, str] = {}
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    env.update(
        DISPATCH_GOOGLE_MAPS_BASE_URL=google.base_url,
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_FROM_NUMBER="+13035550000",
        DISPATCH_TWILIO_BASE_URL=twilio.base_url,
        DISPATCH_METRICS_PORT="0",
        DISPATCH_WORKERS="1",
    )
    log_path = tmp_path / "serve.log"
    answers: list[str] = []
    try:
        with log_path.open("w") as log_file:
            server = DispatchProcess(env, args=["--log-level", "debug"], stderr=log_file)
        with server:
            stub = server.stub
            auth = (("authorization", f"Bearer {TOKEN_A}"), ("x-request-id", "console-7"))
            day = small_day(jobs=4)
            day["options"]["travel_model"] = "GOOGLE"
            plan = stub.Solve(to_proto(day), metadata=auth, timeout=60).plan
            assert plan.stats.travel_requests > 0 and not plan.stats.travel_estimated_pairs  # Google answered
            burst = burst_pipe(customer={"name": "Sam", "phone": "+1 (720) 555-0142"})
            reopt = pb.ReoptimizeRequest(plan_id=plan.plan_id)
            reopt.time.FromJsonString("2026-03-02T16:00:00Z")
            reopt.events.add().new_job.CopyFrom(to_proto({"jobs": [burst]}).jobs[0])
            stub.Reoptimize(reopt, metadata=auth, timeout=30)
            deadline = time.monotonic() + 15
            while not twilio.sent_to("+17205550142") and time.monotonic() < deadline:
                time.sleep(0.1)
            assert twilio.sent_to("+17205550142")  # texted, with the auth token
            for metadata in ((("authorization", "Bearer " + key),), (("authorization", TOKEN),), ()):
                try:
                    stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), metadata=metadata, timeout=5)
                except grpc.RpcError as exc:
                    answers.append(f"{exc.code()} {exc.details()} {exc.trailing_metadata()}")
            bad = small_day(jobs=2)
            bad["jobs"][0]["customer"]["phone"] = "+13035550123"
            bad["jobs"][0]["id"] = ""
            try:
                stub.Solve(to_proto(bad), metadata=auth, timeout=10)
            except grpc.RpcError as exc:
                answers.append(f"{exc.code()} {exc.details()} {field_violations(exc)}")
    finally:
        google.close()
        twilio.close()
    assert len(answers) == 4, answers
    lines = log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    text = "\n".join(lines + answers)
    for secret in (key, TOKEN, TOKEN_A):
        assert secret not in text
    for phone in ("3035550199", "7205550142", "3035550123", "(720) 555-0142"):
        assert phone not in text
    served = [e for e in entries if e.get("request_id") == "console-7"]
    assert {e.get("rpc") for e in served} >= {"Solve", "Reoptimize"}
    assert any(e["logger"] == "dispatch" and "solved plan" in e["message"] for e in served)


def test_a_server_without_auth_settings_asks_for_nothing(stub):
    assert stub.Solve(to_proto(small_day(jobs=2)), timeout=30).plan.version >= 1


def test_worker_niceness_is_read_between_0_and_19():
    assert Settings.from_env({"DISPATCH_WORKER_NICENESS": "0"}).worker_niceness == 0
    assert Settings.from_env({}).worker_niceness == 19
    with pytest.raises(ConfigError, match="DISPATCH_WORKER_NICENESS='20': must be at most 19"):
        Settings.from_env({"DISPATCH_WORKER_NICENESS": "20"})
