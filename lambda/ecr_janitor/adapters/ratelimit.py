"""One token bucket per region, shared by every worker thread that calls ECR in that region."""

from __future__ import annotations

import threading
import time
from typing import Any

_EPSILON = 1e-6


class RateLimiter:
    """At most `rate` requests a second on average, with bursts of up to one second's worth."""

    def __init__(self, rate: float, clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        self.rate = float(rate)
        self._tokens = self.rate
        self._clock, self._sleep = clock, sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1 - _EPSILON:  # float sums may stop a hair short of a whole token
                    self._tokens = max(self._tokens - 1, 0.0)
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)

    def attach(self, client: Any) -> Any:
        """Throttle every HTTP attempt the client makes (retries included) through this bucket."""

        def before_send(**_: Any) -> None:
            self.acquire()  # returns None, so botocore goes on to send the request

        client.meta.events.register("before-send", before_send)
        return client
