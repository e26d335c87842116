"""TLS for `suanli serve`: the server context from a certificate chain and key (PEM), TLS 1.2 at least."""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsConfigError(ValueError):
    """Only one of the certificate and key was given, or they cannot be loaded."""


def server_ssl_context(cert_path: Path | None, key_path: Path | None) -> ssl.SSLContext | None:
    """The context to serve HTTPS with, or None for plain HTTP (both paths unset).

    Both are needed: a certificate without its key (or the reverse) is a configuration error,
    never a silent fall-back to plain HTTP.
    """
    if cert_path is None and key_path is None:
        return None
    if cert_path is None or key_path is None:
        raise TlsConfigError("TLS needs both tls_cert and tls_key (--tls-cert/--tls-key)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert_path), keyfile=str(key_path))
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load TLS certificate {cert_path} / key {key_path}: {exc}") from exc
    return context
