"""Alembic environment: runs on the connection `suanli.controlplane.migrate` hands it."""

from __future__ import annotations

from alembic import context

import suanli.controlplane.certification.tables  # noqa: F401 - registers its tables on the shared metadata
from suanli.controlplane.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
