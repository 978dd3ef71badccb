"""The "anon-ops job" button on a task: the job's status URL, read from the XCom the task pushed
before it started waiting (so the link works while the job still runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

from anon_ops.airflow.utils import XCOM_JOB_URL

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.sdk import BaseOperator


class AnonJobLink(BaseOperatorLink):
    """Link to the anon-ops job of a task instance."""

    name = "anon-ops job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return str(XCom.get_value(ti_key=ti_key, key=XCOM_JOB_URL) or "")
