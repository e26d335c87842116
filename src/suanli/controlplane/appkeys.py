"""Typed keys of the application state, shared by the app factory and the handlers."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.auth import TtlCache
from suanli.controlplane.config import ControlPlaneConfig
from suanli.controlplane.contribution import FlopsCatalog
from suanli.controlplane.db import SyncTransactions
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store.nodes import NodeIdentity
from suanli.controlplane.store.reports import IngestItem
from suanli.controlplane.writer import GroupWriter
from suanli.schema import BatchAck

CONFIG = web.AppKey("config", ControlPlaneConfig)
ENGINE = web.AppKey("engine", AsyncEngine)
# Whole transactions in one hop off the event loop: the ingest writer and multi-query reads.
SYNC_DB = web.AppKey("sync_db", SyncTransactions)
CATALOG = web.AppKey("catalog", FlopsCatalog)
REPORT_WRITER = web.AppKey("report_writer", GroupWriter[IngestItem, "BatchAck | ApiError"])
NODE_AUTH_CACHE = web.AppKey("node_auth_cache", TtlCache[NodeIdentity])
KEY_AUTH_CACHE = web.AppKey("key_auth_cache", TtlCache[str])

__all__ = ["BatchAck", "CATALOG", "CONFIG", "ENGINE", "KEY_AUTH_CACHE", "NODE_AUTH_CACHE", "REPORT_WRITER", "SYNC_DB"]
