"""The fetch-log reports of the running app's fetch log (``storage.fetchlog_reports``)."""

from __future__ import annotations

from proxy.state import AppState
from storage.base import StorageError
from storage.fetchlog_reports import FetchLogReports, ReportReader


def reports_of(state: AppState) -> FetchLogReports:
    reader = state.fetchlog
    if not isinstance(reader, ReportReader):
        raise StorageError(f"the fetch log {type(reader).__name__} cannot answer reports")
    return FetchLogReports(reader)


__all__ = ["reports_of"]
