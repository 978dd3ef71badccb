"""The privacy report: a self-contained HTML page of a job's configuration, risk and utility.

``render_report(statistics, config)`` returns the page; ``write_report(path, statistics, config)``
writes it atomically. The page needs no network and holds aggregates only (see `facts` for what
is never shown).
"""

from anon_ops.report.facts import SIZE_BUCKETS
from anon_ops.report.render import MEDIA_TYPE, render_report, write_report

__all__ = ["MEDIA_TYPE", "SIZE_BUCKETS", "render_report", "write_report"]
