"""AnonJobTrigger: wait in the triggerer until an anon-ops job is terminal; exactly one event.

Its arguments are plain JSON values (job id, connection id, poll interval, deadline as epoch
seconds), so it serializes into the metadata database and runs in any triggerer. The deadline is
the trigger's own (operators defer with no framework timeout). When the deferring task started the
job (``owns_job``, the operators), a timeout aborts it and so does a user killing the deferred task
(mark failed / clear, through :meth:`on_kill`); a sensor watching someone else's job leaves it be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from anon_ops.airflow import utils
from anon_ops.airflow.hooks.anon_ops import AnonOpsHook

DEFAULT_POLL_INTERVAL = 5.0


class AnonJobTrigger(BaseTrigger):
    """Poll one job; yield ``{"status", "job_id", "message"}`` once, with status in
    :data:`anon_ops.airflow.utils.EVENT_STATUSES` (completed, failed, aborted, timeout, error)."""

    def __init__(
        self,
        job_id: str,
        anon_ops_conn_id: str = AnonOpsHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        end_time: float | None = None,
        owns_job: bool = True,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.anon_ops_conn_id = anon_ops_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.owns_job = bool(owns_job)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "anon_ops_conn_id": self.anon_ops_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "owns_job": self.owns_job,
            },
        )

    def _hook(self) -> AnonOpsHook:
        return AnonOpsHook(self.anon_ops_conn_id)

    def _event(self, status: str, message: str = "") -> TriggerEvent:
        return TriggerEvent({"status": status, "job_id": self.job_id, "message": message})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check, then sleep; every exit path yields exactly one event and returns."""
        from anon_ops.airflow.hooks.anon_ops import parse_status

        hook = self._hook()
        try:
            while True:
                document = await hook.aget_status_document(self.job_id)
                status = parse_status(document, self.job_id)
                if status.is_terminal:
                    yield self._event(status.value, str(document.get("error") or ""))
                    return
                remaining = None if self.end_time is None else self.end_time - utils.now()
                if remaining is not None and remaining <= 0:
                    message = f"still {status.value} at the task's deadline"
                    if self.owns_job:
                        await hook.aabort_job(self.job_id)
                        message += "; the job was aborted"
                    yield self._event("timeout", message)
                    return
                self.log.info("anon-ops job %s is %s (%.0f %% done)", self.job_id, status.value,
                              float(document.get("running") or 0.0))
                await asyncio.sleep(self.poll_interval if remaining is None else min(self.poll_interval, remaining))
        except Exception as exc:  # the operator turns this into a task failure
            self.log.exception("anon-ops job %s: polling failed", self.job_id)
            yield self._event("error", f"{type(exc).__name__}: {exc}")
        finally:
            await hook.aclose()

    async def on_kill(self) -> None:
        """The user killed the deferred task: stop the remote work it was waiting for."""
        if not self.owns_job:
            return
        hook = self._hook()
        try:
            await asyncio.wait_for(hook.aabort_job(self.job_id), timeout=30)
        except Exception:
            self.log.exception("anon-ops job %s: abort on kill failed", self.job_id)
        finally:
            await hook.aclose()
