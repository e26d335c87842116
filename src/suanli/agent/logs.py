"""Structured agent logs: one `key=value` line per event, with registered secrets masked."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timezone
from typing import Any

LOGGER_NAME = "suanli.agent"
_MASK = "***"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Mask `secret` wherever it would appear in a log line (credential, bootstrap token)."""
    if secret:
        with _secrets_lock:
            _secrets.add(secret)


def _redact(text: str) -> str:
    with _secrets_lock:
        secrets = tuple(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _quote(value: Any) -> str:
    """A value as logfmt writes it: bare when simple, JSON-style quoted otherwise."""
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


class KeyValueFormatter(logging.Formatter):
    """`ts=… level=… event=… k=v …`: greppable and machine-parsable, one line per event."""

    def format(self, record: logging.LogRecord) -> str:
        timestamp = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        fields: dict[str, Any] = {"ts": timestamp, "level": record.levelname.lower()}
        fields["event"] = getattr(record, "event", None) or record.getMessage()
        extra = getattr(record, "fields", None) or {}
        fields.update(extra)
        if getattr(record, "event", None) is None and record.name != LOGGER_NAME:
            fields["logger"] = record.name
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        line = " ".join(f"{key}={_quote(value)}" for key, value in fields.items() if value is not None)
        return _redact(line)


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """Send every log record (ours and libraries') as key=value lines to stderr (journald)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    set_level(level)
    # APScheduler logs every job run at INFO; one line per 30 s cycle is noise in the journal.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    """Change the level at runtime (on SIGHUP) without rebuilding handlers."""
    logging.getLogger().setLevel(getattr(logging, str(level).upper(), logging.INFO))


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields, e.g. `log_event("delivery.ok", sent=200)`."""
    logger = logging.getLogger(LOGGER_NAME)
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"event": event, "fields": fields})
