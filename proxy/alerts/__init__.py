"""Alerts: an OSV refresh newly flags a file pipgate served; tell people, once.

``detect`` finds the served files (fetch log, within retention) that the new data denies
and the old did not, grouped by advisory with their impact; ``payloads`` shapes the
generic JSON and Slack-compatible bodies; ``delivery`` posts them with retries, back-off
and a delivery log; ``service`` ties these to the ``osv`` input change, deduplicated
across workers and replicas through the shared state store, with a metric and a log line.

May import policies' OSV types, ``proxy.audit`` and storage contracts; never
``proxy.settings`` (``proxy.app`` passes an ``AlertConfig``).
"""
