"""A channel to a dispatch server, secured as the environment says (for the CLI and scripts).

- ``DISPATCH_AUTH_TOKEN`` (or ``DISPATCH_AUTH_TOKEN_FILE``): sent as ``authorization: Bearer``
  with every call (the first token, when the variable lists several for the server).
- ``DISPATCH_TLS_CA_FILE``: talk TLS, trusting the CA that signed the server's certificate
  (``DISPATCH_TLS_SERVER_NAME`` when the certificate names another host than the address).
- ``DISPATCH_TLS_CLIENT_CERT_FILE`` and ``DISPATCH_TLS_CLIENT_KEY_FILE``: this client's certificate,
  for a server that asks for mutual TLS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import grpc

from dispatch.errors import ConfigError
from dispatch.secrets import read_file, read_secret

#: What a CLI call may send or receive (a 1,000-job day with explicit matrices is about 10 MB).
MESSAGE_BYTES = 64 * 1024 * 1024


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call (plaintext channels too, unlike call credentials)."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), self.header]
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, base: Any, metadata: list[tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


def channel(target: str, env: Mapping[str, str] | None = None) -> grpc.Channel:
    """A channel to ``target`` (``host:port``) with the token and TLS settings of ``env``.

    Raises
    ------
    ConfigError
        A file the environment names cannot be read, or a client certificate without its key.
    """
    env = os.environ if env is None else env
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MESSAGE_BYTES),
        ("grpc.max_send_message_length", MESSAGE_BYTES),
    ]
    ca = read_file(env, "DISPATCH_TLS_CA_FILE")
    cert, key = read_file(env, "DISPATCH_TLS_CLIENT_CERT_FILE"), read_file(env, "DISPATCH_TLS_CLIENT_KEY_FILE")
    if (cert is None) != (key is None):
        raise ConfigError("DISPATCH_TLS_CLIENT_CERT_FILE and DISPATCH_TLS_CLIENT_KEY_FILE go together")
    if ca is not None or cert is not None:
        if env.get("DISPATCH_TLS_SERVER_NAME"):
            options.append(("grpc.ssl_target_name_override", env["DISPATCH_TLS_SERVER_NAME"]))
        credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        made = grpc.secure_channel(target, credentials, options=options)
    else:
        made = grpc.insecure_channel(target, options=options)
    token = read_secret(env, "DISPATCH_AUTH_TOKEN").replace(",", " ").split()
    return grpc.intercept_channel(made, _Bearer(token[0])) if token else made
