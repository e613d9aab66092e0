"""Each key's outcome, asked once per run: its value, or the AWS error asking raised (raised again every
time the key is asked for, so a refused account or an unlistable organization costs one call)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ecr_janitor.adapters.clients import AWS_ERRORS

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Remembered(Generic[K, V]):
    def __init__(self) -> None:
        self._outcomes: dict[K, V | Exception] = {}
        self._lock = threading.Lock()

    def get(self, key: K, ask: Callable[[], V]) -> V:
        with self._lock:
            if key not in self._outcomes:
                try:
                    self._outcomes[key] = ask()
                except AWS_ERRORS as error:
                    self._outcomes[key] = error
            found = self._outcomes[key]
        if isinstance(found, Exception):
            raise found
        return found
