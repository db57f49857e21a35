"""Failure alerts: a JSON POST to a webhook and/or an e-mail, off unless configured.

Wired into every task through ``DEFAULT_ARGS["on_failure_callback"]``. Configured by settings
(``WORKHEALTH_ALERT_WEBHOOK``, ``WORKHEALTH_ALERT_EMAILS``, ``WORKHEALTH_SMTP_HOST``/``PORT``,
``WORKHEALTH_ALERT_SENDER``), read when the callback runs, so changing them needs no DAG change.
An alert that cannot be sent is logged and never raised: it must not hide the task's own error.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage

log = logging.getLogger(__name__)

#: Seconds to wait for the webhook or the mail server before giving up on the alert.
ALERT_TIMEOUT = 10


def alert_payload(context) -> dict:
    """What failed, where, and why, as plain JSON values (the delivery's name for ingestion tasks)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    map_index = getattr(ti, "map_index", -1)
    # For load_delivery the rendered map index is the delivery folder's name.
    rendered = getattr(ti, "rendered_map_index", None) or context.get("delivery_name")
    return {
        "event": "task_failed",
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": map_index,
        "delivery": rendered if rendered and map_index is not None and map_index >= 0 else None,
        "run_id": getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "error": f"{type(exception).__name__}: {exception}" if exception else None,
    }


def _summary(p: dict) -> str:
    what = f"{p['dag_id']}.{p['task_id']}" + (f" [{p['delivery']}]" if p["delivery"] else "")
    return f"workhealth: {what} failed (run {p['run_id']}, try {p['try_number']}): {p['error']}"


def send_webhook(url: str, payload: dict) -> None:
    body = json.dumps({**payload, "text": _summary(payload)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=ALERT_TIMEOUT) as response:  # noqa: S310 (operator-set URL)
        response.read()


def send_email(s, payload: dict) -> None:
    message = EmailMessage()
    message["Subject"] = _summary(payload)[:200]
    message["From"] = s.alert_sender
    message["To"] = ", ".join(s.alert_emails)
    message.set_content(_summary(payload) + "\n\n" + json.dumps(payload, indent=2))
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=ALERT_TIMEOUT) as smtp:
        smtp.send_message(message)


def on_failure(context) -> None:
    """Airflow's ``on_failure_callback``: send the configured alerts (none by default)."""
    from workhealth.core import settings

    s = settings.load()
    if not (s.alert_webhook or s.alert_emails):
        return
    payload = alert_payload(context)
    if s.alert_webhook:
        try:
            send_webhook(s.alert_webhook, payload)
        except Exception as exc:  # an alert failure must not mask the task's failure
            log.error("failure alert to webhook %s not sent: %s", s.alert_webhook, exc)
    if s.alert_emails:
        try:
            send_email(s, payload)
        except Exception as exc:
            log.error("failure alert e-mail to %s not sent: %s", ", ".join(s.alert_emails), exc)
