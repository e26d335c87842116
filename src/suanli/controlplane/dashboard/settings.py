"""Dashboard settings: the `[dashboard]` table of the control-plane config (SUANLI_DASHBOARD__<KEY>)."""

from __future__ import annotations

import secrets
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DashboardSettings(BaseModel):
    """Session cookies and the in-memory utilisation history behind the dashboard's charts."""

    model_config = ConfigDict(extra="forbid")

    # Signs session cookies. Several instances behind one load balancer must share it; without
    # one, each process draws its own at start (sessions then end when the process restarts).
    session_secret: SecretStr | None = None
    session_ttl_s: Annotated[float, Field(ge=60, le=30 * 86400)] = 8 * 3600.0
    # Send the cookie only over HTTPS; leave off when the control plane is reached over plain HTTP.
    secure_cookie: bool = False
    # The fleet's utilisation is sampled this often for the charts, and this many samples are kept.
    sample_interval_s: Annotated[float, Field(gt=0)] = 60.0
    history_samples: Annotated[int, Field(ge=2, le=100_000)] = 1440

    @cached_property
    def signing_secret(self) -> bytes:
        """The configured secret, or one random per process."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value().encode()
        return secrets.token_bytes(32)
