"""The audit log of admin actions (who did what to which object, when)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from suanli.controlplane.store.tables import audit_log


async def record(
    connection: AsyncConnection,
    now: datetime,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction, so the action and its record commit together."""
    await connection.execute(
        audit_log.insert().values(
            at=now, actor=actor, action=action, target=target,
            detail=None if detail is None else json.dumps(detail, sort_keys=True),
        )
    )
