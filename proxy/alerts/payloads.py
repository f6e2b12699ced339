"""Alert bodies: generic JSON (the advisory and the whole impact) and a Slack-compatible
``{"text": ...}`` message (also accepted by Mattermost and Rocket.Chat webhooks)."""

from __future__ import annotations

import hashlib
from typing import Any

from proxy.alerts.detect import Alert

__all__ = ["alert_key", "generic_body", "slack_body", "summary_line"]

EVENT = "pipgate.served-file-flagged"
_LISTED = 10


def alert_key(alert: Alert) -> str:
    """The same on every worker and replica for the same advisory and files."""
    files = sorted(f.sha256 for f in alert.impact.files)
    digest = hashlib.sha256("\n".join(files).encode()).hexdigest()[:32]
    return f"alert/{alert.advisory.id}/{digest}"


def generic_body(alert: Alert) -> dict[str, Any]:
    return {
        "event": EVENT,
        "detected": alert.detected.isoformat(),
        "osv_source": alert.source,
        "summary": summary_line(alert),
        **alert.impact.to_json(),
    }


def summary_line(alert: Alert) -> str:
    advisory, impact = alert.advisory, alert.impact
    kind = "malicious" if advisory.malicious else "vulnerable"
    files = ", ".join(f.filename for f in impact.files[:_LISTED])
    more = f" and {len(impact.files) - _LISTED} more" if len(impact.files) > _LISTED else ""
    builds = ", ".join(impact.builds[:_LISTED]) or "none labelled"
    return (
        f"{advisory.id} ({kind}) names {len(impact.files)} file(s) pipgate served: "
        f"{files}{more}; builds: {builds}; clients: {', '.join(impact.clients[:_LISTED])}"
    )


def slack_body(alert: Alert) -> dict[str, Any]:
    advisory, impact = alert.advisory, alert.impact
    lines = [f":rotating_light: *{advisory.id}*: {advisory.summary or 'no summary'}"]
    for file in impact.files[:_LISTED]:
        builds = sorted({f.build for f in file.fetches if f.build})
        lines.append(
            f"• `{file.filename}`: {len(file.fetches)} fetch(es); builds {', '.join(builds) or '-'}"
        )
    if len(impact.files) > _LISTED:
        lines.append(f"… and {len(impact.files) - _LISTED} more file(s)")
    lines.append(f"Run `pipgate impact {advisory.id}` for every fetch.")
    return {"text": "\n".join(lines)}
