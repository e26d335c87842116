"""Tests of the daemon worker pool: reuse, hung calls, exceptions, close."""

from __future__ import annotations

import threading

import pytest

from suanli.agent.workers import WorkerPool


def test_results_and_exceptions_come_back_through_futures() -> None:
    pool = WorkerPool("test")
    assert pool.submit(lambda a, b: a + b, 2, 3).result(timeout=5) == 5
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result(timeout=5)
    pool.close()


def test_idle_threads_are_reused() -> None:
    pool = WorkerPool("test")
    for value in range(20):
        assert pool.submit(lambda v=value: v * 2).result(timeout=5) == value * 2
    assert pool.threads_started == 1
    pool.close()


def test_a_hung_call_gets_its_own_thread_and_does_not_block_the_next() -> None:
    pool = WorkerPool("test")
    release = threading.Event()
    hung = pool.submit(release.wait)
    assert pool.submit(lambda: "free").result(timeout=5) == "free"
    assert not hung.done()
    assert pool.threads_started == 2
    release.set()
    assert hung.result(timeout=5) is True
    pool.close()


def test_hung_threads_are_daemons() -> None:
    pool = WorkerPool("test-daemon")
    release = threading.Event()
    pool.submit(release.wait)
    workers = [t for t in threading.enumerate() if t.name.startswith("test-daemon")]
    assert workers and all(t.daemon for t in workers)
    release.set()
    pool.close()


def test_closed_pool_refuses_work() -> None:
    pool = WorkerPool("test")
    pool.close()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
