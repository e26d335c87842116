"""Reusable daemon worker threads for calls that may hang (collectors, statvfs on a dead NFS server)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = object()


class WorkerPool:
    """Runs calls on daemon threads, reusing idle ones and starting a new one only when none is idle.

    Unlike `concurrent.futures.ThreadPoolExecutor`, whose threads are joined at interpreter exit, a
    call stuck in the kernel here never keeps the process from exiting, and a stuck thread never
    starves later calls (they get a fresh thread). Callers bound the number of stuck threads by not
    resubmitting work whose previous call has not returned.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0
        self._closed = False

    @property
    def threads_started(self) -> int:
        """How many threads this pool ever started (tests check that threads are reused)."""
        return self._started

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run `function(*args)` on a worker thread; the future carries its result or exception."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"worker pool {self._name} is closed")
            if self._idle > 0:
                self._idle -= 1  # an idle worker will take this task from the queue
            else:
                self._start_thread()
        self._tasks.put((future, function, args))
        return future

    def close(self) -> None:
        """Let idle workers exit; busy (possibly hung) ones are daemons and die with the process."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._tasks.put(_STOP)

    def _start_thread(self) -> None:
        self._started += 1
        thread = threading.Thread(target=self._work, name=f"{self._name}-{self._started}", daemon=True)
        thread.start()

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is _STOP:
                return
            future, function, args = task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function(*args))
                except BaseException as exc:  # handed to the caller through the future
                    future.set_exception(exc)
            with self._lock:
                if self._closed:
                    return
                self._idle += 1
