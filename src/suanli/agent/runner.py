"""Runs the enabled collectors, each under a timeout, and assembles a validated Inventory or Usage."""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from suanli.agent.config import AgentConfig, ConfigError
from suanli.agent.collectors import REGISTRY
from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext, Collector, NoData
from suanli.agent.workers import WorkerPool
from suanli.schema import CollectorState, CollectorStatus, Inventory, Usage

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 2048
Fragment = dict[str, Any]
_Result = tuple[Fragment, float, Exception | None]


@cache
def _field_adapter(model: type[BaseModel], key: str) -> TypeAdapter[Any]:
    """A validator for one top-level field of Inventory/Usage, with the field's own constraints."""
    info = model.model_fields[key]
    return TypeAdapter(Annotated[info.annotation, info])


def validate_fragment(model: type[BaseModel], fragment: Fragment) -> Fragment:
    """Check a collector's fragment against the contract on its own, so bad data fails one collector."""
    unknown = sorted(set(fragment) - set(model.model_fields) - {"collectors"})
    if unknown:
        raise ValueError(f"fields not in {model.__name__}: {', '.join(unknown)}")
    return {key: _field_adapter(model, key).validate_python(value) for key, value in fragment.items()}


def merge_fragments(fragments: Sequence[Fragment]) -> Fragment:
    """One body from many fragments: lists from several collectors are joined, other fields set."""
    merged: Fragment = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = merged[key] + value
            else:
                merged[key] = value
    return merged


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


def _timed(method: Callable[[CollectContext], Fragment], context: CollectContext) -> _Result:
    """Run one collector method, timed on its own thread (others run alongside); never raises."""
    started = time.perf_counter()
    try:
        fragment, error = method(context), None
    except Exception as exc:  # reported in the collector's status, never propagated
        fragment, error = {}, exc
    return fragment, (time.perf_counter() - started) * 1000.0, error


def _status(name: str, state: CollectorState, duration_ms: float, message: str | None) -> CollectorStatus:
    text = _short(message) if message else None
    return CollectorStatus(name=name, state=state, duration_ms=round(duration_ms, 3), message=text)


def _overrides(collector: Collector, phase: str) -> bool:
    """Whether the collector has anything to say in this phase (the base methods return {})."""
    return getattr(type(collector), phase) is not getattr(Collector, phase)


class Runner:
    """Runs collectors on reused daemon threads: a hung one is reported as `timeout` and not started
    again until its stuck call returns, so it holds at most one thread and never blocks the others."""

    def __init__(
        self,
        collectors: Mapping[str, Collector],
        context: CollectContext,
        timeout_s: float,
        disabled: Sequence[str] = (),
    ) -> None:
        self.collectors = dict(collectors)
        self.context = context
        self.timeout_s = timeout_s
        self.disabled = list(disabled)
        self._pool = WorkerPool("suanli-collector")
        self._busy: dict[str, Future[_Result]] = {}
        # The service asks for usage and inventory from separate jobs: one collection at a time, so
        # a collector still busy in the other phase is never mistaken for a hung one.
        self._collecting = threading.Lock()

    def inventory(self) -> Inventory:
        """One inventory of the host; collectors' failures are in its `collectors` statuses."""
        body, statuses = self._collect("inventory", Inventory)
        body.setdefault("host", {"hostname": platform.node() or "localhost"})  # host collector off or failed
        return Inventory.model_validate({**body, "collectors": statuses})

    def usage(self) -> Usage:
        """One usage sample of the host."""
        body, statuses = self._collect("usage", Usage)
        return Usage.model_validate({**body, "collectors": statuses})

    def close(self) -> None:
        """Release collectors' resources and idle threads (hung ones die with the process)."""
        for collector in self.collectors.values():
            try:
                collector.close()
            except Exception:
                log.warning("closing collector %s failed", collector.name, exc_info=True)
        self._pool.close()

    def _collect(self, phase: str, model: type[BaseModel]) -> tuple[Fragment, list[CollectorStatus]]:
        with self._collecting:
            return self._collect_once(phase, model)

    def _collect_once(self, phase: str, model: type[BaseModel]) -> tuple[Fragment, list[CollectorStatus]]:
        started: dict[str, Future[_Result]] = {}
        statuses: dict[str, CollectorStatus] = {}
        for name, collector in self.collectors.items():
            if not _overrides(collector, phase):
                continue
            previous = self._busy.get(name)
            if previous is not None and not previous.done():
                message = "previous call has not returned; not started again"
                statuses[name] = _status(name, CollectorState.TIMEOUT, 0.0, message)
                continue
            future = self._pool.submit(_timed, getattr(collector, phase), self.context)
            started[name] = self._busy[name] = future
        deadline = time.monotonic() + self.timeout_s
        fragments = []
        for name, future in started.items():
            fragment, statuses[name] = self._outcome(name, future, deadline, model)
            if fragment:
                fragments.append(fragment)
        ordered = [statuses[name] for name in self.collectors if name in statuses]
        ordered += [_status(name, CollectorState.DISABLED, 0.0, None) for name in self.disabled]
        return merge_fragments(fragments), ordered

    def _outcome(
        self, name: str, future: Future[_Result], deadline: float, model: type[BaseModel]
    ) -> tuple[Fragment, CollectorStatus]:
        """The validated fragment (empty unless ok) and the status of one collector's call."""
        try:
            fragment, duration_ms, error = future.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            timeout_ms = self.timeout_s * 1000.0
            message = f"no answer within {self.timeout_s:g} s"
            return {}, _status(name, CollectorState.TIMEOUT, timeout_ms, message)
        if isinstance(error, NoData):
            return {}, _status(name, CollectorState.NO_DATA, duration_ms, str(error) or None)
        if error is not None:
            log.warning("collector %s failed: %r", name, error, exc_info=log.isEnabledFor(logging.DEBUG))
            return {}, _status(name, CollectorState.ERROR, duration_ms, f"{type(error).__name__}: {error}")
        fragment = dict(fragment)
        message = fragment.pop(MESSAGE_KEY, None)
        try:
            fragment = validate_fragment(model, fragment)
        except (ValidationError, ValueError) as exc:
            return {}, _status(name, CollectorState.ERROR, duration_ms, f"invalid data: {exc}")
        return fragment, _status(name, CollectorState.OK, duration_ms, message)


def select_collectors(
    known: Sequence[str], enabled: Sequence[str] | None, disabled: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(names to run, names switched off), in registry order; an unknown name is a ConfigError."""
    unknown = sorted({*(enabled or ()), *disabled} - set(known))
    if unknown:
        raise ConfigError(f"unknown collector(s): {', '.join(unknown)} (known: {', '.join(known)})")
    active = [name for name in known if (enabled is None or name in enabled) and name not in disabled]
    return active, [name for name in known if name not in active]


def context_from_config(config: AgentConfig) -> CollectContext:
    """The roots and per-collector settings the collectors read, from the agent config."""
    settings = {
        "location": config.location.model_dump(),
        "storage": {"statvfs_timeout_s": config.statvfs_timeout_s},
    }
    return CollectContext(config.proc_root, config.sys_root, config.etc_root, settings)


def build_runner(config: AgentConfig, registry: Mapping[str, Callable[[], Collector]] | None = None) -> Runner:
    """A runner for the collectors the config enables, instantiated from the registry."""
    registry = REGISTRY if registry is None else registry
    active, off = select_collectors(list(registry), config.collectors_enabled, config.collectors_disabled)
    collectors = {name: registry[name]() for name in active}
    return Runner(collectors, context_from_config(config), config.collector_timeout_s, off)
