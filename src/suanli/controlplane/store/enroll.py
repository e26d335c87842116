"""Enrollment: concurrent requests' tokens spent and nodes created together in one transaction.

Synchronous, like ingest: the enrollment writer (group commit) runs a whole group in one hop to
the database thread (SQLite) or one greenlet (PostgreSQL). Per node it was ten round trips and
three aggregate upserts; per group it is six statements whatever the group's size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from suanli.controlplane import contribution as contrib
from suanli.controlplane.credentials import NODE_CREDENTIAL_PREFIX, hash_secret, new_secret
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store import aggregates
from suanli.controlplane.store.nodes import check_location, inventory_hash, new_node_id
from suanli.controlplane.store.tables import node_credentials, nodes
from suanli.controlplane.store.tokens import check_token, lock_tokens, spend_tokens
from suanli.schema import Inventory

STATUS_AFTER_ENROLL = "active"


@dataclass(frozen=True)
class EnrollItem:
    """One request's enrollment, already validated: the token's secret and the first inventory."""

    token: str
    inventory: Inventory


@dataclass(frozen=True)
class EnrolledNode:
    node_id: str
    credential: str
    datacenter: str
    province: str
    status: str
    enrolled_at: datetime


def enroll_nodes(
    connection: Connection, items: list[EnrollItem], now: datetime, catalog: contrib.FlopsCatalog
) -> list[EnrolledNode | ApiError]:
    """Spend each item's token, create its node (active) and credential, and add it to the aggregates.

    One answer per item, in order: refused items (unknown, expired, revoked or used-up token, wrong
    location) get their ApiError and leave no trace; the others commit together or not at all.
    """
    token_hashes = [hash_secret(item.token) for item in items]
    tokens = lock_tokens(connection, token_hashes)
    spent: Counter[str] = Counter()
    answers: list[EnrolledNode | ApiError] = []
    node_rows: list[dict[str, Any]] = []
    credential_rows: list[dict[str, Any]] = []
    delta = aggregates.AggregateDelta()
    for item, token_hash in zip(items, token_hashes):
        try:
            dc = check_token(tokens.get(token_hash), now, spent[token_hash])
            check_location(item.inventory, dc.name, dc.province)
        except ApiError as refusal:
            answers.append(refusal)
            continue
        spent[token_hash] += 1
        location = item.inventory.location
        contribution = contrib.compute(
            item.inventory, (dc.province, dc.name, location.rack or "", STATUS_AFTER_ENROLL), set(), catalog
        )
        delta.add(contribution, +1)
        node = EnrolledNode(
            new_node_id(), new_secret(NODE_CREDENTIAL_PREFIX), dc.name, dc.province, STATUS_AFTER_ENROLL, now
        )
        node_rows.append(_node_row(node, dc.id, item.inventory, contribution, now))
        credential_rows.append(
            {"node_id": node.node_id, "credential_hash": hash_secret(node.credential), "created_at": now}
        )
        answers.append(node)
    if not node_rows:
        return answers
    spend_tokens(connection, {tokens[token_hash].id: uses for token_hash, uses in spent.items()})
    connection.execute(nodes.insert(), node_rows)
    connection.execute(node_credentials.insert(), credential_rows)
    aggregates.apply(connection, delta)
    return answers


def _node_row(
    node: EnrolledNode, datacenter_id: int, inventory: Inventory, contribution: contrib.Contribution, now: datetime
) -> dict[str, Any]:
    location = inventory.location
    return {
        "id": node.node_id, "status": node.status, "datacenter_id": datacenter_id,
        "province_code": node.province, "room": location.room or "", "rack": location.rack or "",
        "hostname": inventory.host.hostname, "inventory": inventory.model_dump_json(),
        "inventory_hash": inventory_hash(inventory), "inventory_seq": 0, "inventory_changed_at": now,
        "contribution": contribution.to_json(), "enrolled_at": now, "last_seen_at": now,
        "status_changed_at": now,
    }
