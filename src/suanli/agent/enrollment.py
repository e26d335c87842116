"""Enrollment: trade a bootstrap token and the first inventory for a node id and credential, kept 0600."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from pydantic import ValidationError

from suanli.agent.logs import log_event, register_secret
from suanli.agent.state import ensure_state_dir, read_json, write_json
from suanli.agent.transport import HttpClient, TransportError
from suanli.schema import EnrollRequest, EnrollResponse, Inventory, utc_now

ENROLLMENT_FILE = "enrollment.json"


class EnrollmentError(Exception):
    """Enrollment failed or is missing; the message says what to do."""


@dataclass(frozen=True)
class Enrollment:
    """Who this node is to which control plane; the credential authenticates every report batch."""

    server_url: str
    node_id: str
    credential: str
    datacenter: str
    province: str
    enrolled_at: str

    def __repr__(self) -> str:  # the credential must never reach a log line or a traceback
        return f"Enrollment(server_url={self.server_url!r}, node_id={self.node_id!r}, credential='***')"


def enrollment_path(state_dir: Path) -> Path:
    return Path(state_dir) / ENROLLMENT_FILE


def load_enrollment(state_dir: Path) -> Enrollment | None:
    """The stored enrollment, or None when this node was never enrolled."""
    path = enrollment_path(state_dir)
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise EnrollmentError(f"cannot read {path}: {exc}") from exc
    if data is None:
        return None
    try:
        enrollment = Enrollment(**data)
    except TypeError as exc:
        raise EnrollmentError(f"{path} is not an enrollment record: {exc}") from exc
    register_secret(enrollment.credential)
    return enrollment


def save_enrollment(state_dir: Path, enrollment: Enrollment) -> Path:
    """Store the enrollment in the private state dir (0700), file 0600, atomically and durably."""
    ensure_state_dir(Path(state_dir))
    path = enrollment_path(state_dir)
    write_json(path, asdict(enrollment))
    return path


async def request_enrollment(client: HttpClient, token: str, inventory: Inventory) -> EnrollResponse:
    """POST /v1/enroll and return the control plane's answer, or raise EnrollmentError with its reason."""
    body = EnrollRequest(token=token, inventory=inventory).model_dump_json(by_alias=True).encode()
    try:
        # never resent on its own: a token may allow a single use
        response = await client.post("/v1/enroll", body, {}, retry_stale=False)
    except TransportError as exc:
        raise EnrollmentError(f"cannot reach {client.server_url}: {type(exc).__name__}: {exc}") from exc
    if response.status != 201:
        raise EnrollmentError(f"enrollment refused: HTTP {response.status}: {_error_message(response.text)}")
    try:
        return EnrollResponse.model_validate_json(response.text)
    except ValidationError as exc:
        raise EnrollmentError(f"unexpected enrollment answer from {client.server_url}: {exc}") from exc


def _error_message(text: str) -> str:
    try:
        error = json.loads(text)["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return text[:200]


async def enroll(
    state_dir: Path,
    server_url: str,
    token: str,
    inventory: Inventory,
    *,
    force: bool = False,
    request_timeout_s: float = 30.0,
    tls_verify: bool = True,
    ca_bundle: str | None = None,
) -> Enrollment:
    """Enroll this node and store the result; refuse to replace an enrollment unless `force`."""
    register_secret(token)
    existing = load_enrollment(state_dir)
    if existing is not None and not force:
        raise EnrollmentError(
            f"already enrolled as {existing.node_id} with {existing.server_url}; use --force to enroll again"
        )
    try:
        client = HttpClient(server_url, request_timeout_s, tls_verify, ca_bundle)
    except (ValueError, OSError) as exc:  # a bad URL, an unreadable CA bundle
        raise EnrollmentError(str(exc)) from exc
    try:
        answer = await request_enrollment(client, token, inventory)
    finally:
        client.close()
    register_secret(answer.credential)
    enrollment = Enrollment(
        server_url=server_url,
        node_id=answer.node_id,
        credential=answer.credential,
        datacenter=answer.datacenter,
        province=answer.province,
        enrolled_at=utc_now().isoformat(),
    )
    save_enrollment(state_dir, enrollment)
    log_event("enroll.ok", node_id=enrollment.node_id, server=server_url, datacenter=answer.datacenter)
    return enrollment
