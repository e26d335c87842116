"""Certification settings: the `[certification]` table of the control-plane config (SUANLI_CERTIFICATION__<KEY>)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from suanli.controlplane.certification.checks import (
    AVAILABILITY_MIN_SHARE,
    AVAILABILITY_WINDOW_S,
    HEARD_WITHIN_INTERVALS,
    USAGE_INTERVAL_S,
    CertificationPolicy,
)


class CertificationSettings(BaseModel):
    """How often the sweep runs, how long certificates live, who signs them, and the check thresholds."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    sweep_interval_s: Annotated[float, Field(gt=0)] = 60.0
    certificate_validity_s: Annotated[float, Field(ge=60)] = 24 * 3600.0
    # The `iss` of certificates and summaries; set it to the URL the national platform uses.
    issuer: Annotated[str | None, Field(max_length=512)] = None
    # Encrypts signing keys at rest (PKCS#8); without it they are protected by database access only.
    signing_key_passphrase: SecretStr | None = None
    usage_interval_s: Annotated[float, Field(gt=0)] = USAGE_INTERVAL_S
    heard_within_intervals: Annotated[int, Field(ge=1)] = HEARD_WITHIN_INTERVALS
    availability_window_s: Annotated[float, Field(gt=0)] = AVAILABILITY_WINDOW_S
    availability_min_share: Annotated[float, Field(ge=0, le=1)] = AVAILABILITY_MIN_SHARE
    summary_validity_s: Annotated[float, Field(ge=60)] = 3600.0

    @model_validator(mode="after")
    def _keys_outlive_summaries(self) -> "CertificationSettings":
        """A retired key stays published for one certificate validity; summaries it signed must expire first."""
        if self.summary_validity_s > self.certificate_validity_s:
            raise ValueError("summary_validity_s must not exceed certificate_validity_s")
        return self

    @property
    def validity(self) -> timedelta:
        return timedelta(seconds=self.certificate_validity_s)

    @property
    def passphrase(self) -> bytes | None:
        return self.signing_key_passphrase.get_secret_value().encode() if self.signing_key_passphrase else None

    def policy(self) -> CertificationPolicy:
        return CertificationPolicy(
            usage_interval_s=self.usage_interval_s,
            heard_within_intervals=self.heard_within_intervals,
            availability_window_s=self.availability_window_s,
            availability_min_share=self.availability_min_share,
        )

    def issuer_for(self, listen: str) -> str:
        """The configured issuer, or one derived from the listen address (fine for a single instance)."""
        return self.issuer or f"http://{listen}"
