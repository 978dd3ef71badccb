"""anon-ops as an Airflow 3 provider: a hook, operators, a sensor and a deferrable trigger.

One small module per role, as in the dbt Cloud and Databricks providers:

* ``hooks.anon_ops.AnonOpsHook`` — the ``anon_ops`` connection (a service URL and token, or the
  embedded runtime) turned into an SDK :class:`anon_ops.Connection`, plus async calls for the trigger;
* ``operators`` — ``AnonymizeOperator``, ``ApplyAnonymizeOperator``, ``AnonStatisticsOperator``,
  ``AnonQualityGateOperator`` (a branch), ``AnonMeasureOperator``, ``AnonInferOperator``;
* ``sensors.anon_job.AnonJobSensor`` — poke, reschedule or deferrable;
* ``triggers.anon_job.AnonJobTrigger`` — one terminal event per job;
* ``get_provider_info`` — the ``apache_airflow_provider`` entry point.

Nothing here is imported by ``import anon_ops``; DAG files import the operators, which import the
SDK (pandas, the job runtime) only when a task runs, so DAG parsing stays fast.
"""
