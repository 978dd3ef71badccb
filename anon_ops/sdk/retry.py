"""The one retry policy of the REST clients, sync (requests) and async (httpx) alike.

Retried: connection errors, timeouts, 5xx and 429 — the failures that say "not now" rather than
"not this request". Delays grow exponentially up to a cap; a ``Retry-After`` header is honoured, and
when it asks for longer than ``max_retry_after`` the client gives up at once rather than hang.
Submissions stay safe to retry because the remote backend sends one Idempotency-Key per call.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from functools import cache

import requests

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@cache
def _transport_errors() -> tuple[type[BaseException], ...]:
    """Errors raised before a response arrived; httpx is optional (only the async client needs it)."""
    errors: list[type[BaseException]] = [requests.ConnectionError, requests.Timeout,
                                         requests.exceptions.ChunkedEncodingError]
    try:
        import httpx
    except ImportError:
        pass
    else:
        errors.append(httpx.TransportError)
    return tuple(errors)


def is_retryable(status: int | None = None, error: BaseException | None = None) -> bool:
    """THE retry predicate: a transport error (connection, timeout) or a 5xx / 429 status."""
    if error is not None:
        return isinstance(error, _transport_errors()) and not isinstance(error, requests.exceptions.SSLError)
    return status is not None and (status in RETRYABLE_STATUS or status >= 500)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; ``delay`` returns None when the client should give up."""

    max_retries: int = 5
    backoff: float = 0.5
    cap: float = 15.0
    max_retry_after: float = 120.0
    jitter: float = 0.1

    def delay(self, attempt: int, retry_after: str | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt + 1`` (attempt counts from 0)."""
        if attempt >= self.max_retries:
            return None
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            return asked if asked <= self.max_retry_after else None
        base = min(self.cap, self.backoff * 2**attempt)
        return base * (1 + self.jitter * random.random())

    def should_retry(self, attempt: int, status: int | None = None, error: BaseException | None = None,
                     retry_after: str | None = None) -> float | None:
        """The delay before the next try, or None: not retryable, or out of retries."""
        if not is_retryable(status, error):
            return None
        return self.delay(attempt, retry_after)


NO_RETRY = RetryPolicy(max_retries=0)
