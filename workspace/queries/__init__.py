"""The SQL the workspace writes around a query before it runs (through the guardrails, like
any other): a dashboard's date range (`dates`), and long time series thinned into time
buckets before they are drawn (`downsample`)."""

from workspace.queries.dates import restrict_dates
from workspace.queries.downsample import downsample_sql, needs_downsampling

__all__ = ["downsample_sql", "needs_downsampling", "restrict_dates"]
