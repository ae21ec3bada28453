"""SPEC §4.6 alert mails as text: subject and body of one group, and the storm summary. Pure."""

from __future__ import annotations

from typing import Any


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


def subject(project: str, exception_type: str, message: str) -> str:
    """``[{project}] {exception_type}: {message_truncated_50_chars}`` (one line)."""
    first = " ".join(message.split())
    return f"[{project}] {exception_type}: {truncate(first, 50)}"


def body(group: dict[str, Any], dashboard_url: str, *, regression: bool = False) -> str:
    """SPEC §4.6 body; a regression says so in its first line."""
    head = "Regression" if regression else "New error"
    method = group.get("request_method") or ""
    url = group.get("request_url") or ""
    request = f"{method} {url}".strip() or "-"
    return (
        f"{head} in {group['project']} ({group['environment']})\n"
        "\n"
        f"Exception: {group['exception_type']}\n"
        f"Message: {group['message']}\n"
        "\n"
        f"Request: {request}\n"
        f"Time: {group['first_seen'] if not regression else group['last_seen']}\n"
        "\n"
        "Traceback:\n"
        f"{group['traceback']}\n"
        "\n"
        "---\n"
        f"View in Error Tracker: {dashboard_url}\n"
    )


def summary(subjects: list[str], cap: int, dashboard_url: str) -> tuple[str, str]:
    """The one mail sent instead of the alerts over ALERT_MAX_PER_HOUR."""
    shown = subjects[:50]
    lines = [
        f"More than {cap} alerts in an hour: {len(subjects)} further alert(s) were not "
        "mailed one by one.",
        "",
        *(f"- {s}" for s in shown),
    ]
    if len(subjects) > len(shown):
        lines.append(f"- ... and {len(subjects) - len(shown)} more")
    lines += ["", "---", f"View in Error Tracker: {dashboard_url}", ""]
    return f"[flowmon] {len(subjects)} more new errors (alert limit reached)", "\n".join(lines)
