"""Alembic migrations of the control-plane database, shipped inside the package."""
