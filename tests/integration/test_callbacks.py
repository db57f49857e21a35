"""Failure alerts (plugins/workhealth_airflow/callbacks.py) against real local servers.

A real HTTP server receives the webhook and a real (minimal) SMTP server the e-mail; the task
context is the part Airflow hands the callback (task instance, run, exception). The same
callback firing from a real scheduler run is covered in test_real_scheduler.py; that every task
of every DAG carries it, in tests/dags/test_dagbag.py.
"""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from cluster import REPO

sys.path.insert(0, str(REPO / "plugins"))  # as Airflow does with its plugins folder
from workhealth_airflow import callbacks  # noqa: E402


@pytest.fixture
def context():
    ti = SimpleNamespace(dag_id="ingest_deliveries", task_id="load_delivery", map_index=3,
                         rendered_map_index="nav_aap_2018-01_v2", try_number=1, run_id="manual__x")
    return {"ti": ti, "dag_run": SimpleNamespace(run_id="manual__x"),
            "exception": RuntimeError("delivery nav_aap_2018-01_v2 rejected: checksum mismatch")}


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, self.headers["Content-Type"],
                             json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@pytest.fixture
def smtp_server():
    """A minimal SMTP server that keeps every message's DATA."""
    messages = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            def say(text):
                self.wfile.write(text.encode() + b"\r\n")

            say("220 test")
            data = None
            while line := self.rfile.readline():
                text = line.decode().rstrip("\r\n")
                if data is not None:
                    if text == ".":
                        messages.append("\n".join(data))
                        data = None
                        say("250 queued")
                    else:
                        data.append(text)
                elif text.upper().startswith("DATA"):
                    data = []
                    say("354 end with .")
                elif text.upper().startswith("QUIT"):
                    say("221 bye")
                    return
                else:
                    say("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], messages
    server.shutdown()
    server.server_close()


def test_webhook_gets_the_failure_naming_the_delivery(webhook, context, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("WORKHEALTH_ALERT_WEBHOOK", url)
    callbacks.on_failure(context)
    [(path, content_type, body)] = received
    assert path == "/hook" and content_type == "application/json"
    assert body["dag_id"] == "ingest_deliveries" and body["task_id"] == "load_delivery"
    assert body["delivery"] == "nav_aap_2018-01_v2" and body["run_id"] == "manual__x"
    assert "checksum mismatch" in body["error"] and "nav_aap_2018-01_v2" in body["text"]


def test_no_alert_unless_configured(webhook, context, monkeypatch):
    url, received = webhook
    monkeypatch.delenv("WORKHEALTH_ALERT_WEBHOOK", raising=False)
    monkeypatch.delenv("WORKHEALTH_ALERT_EMAILS", raising=False)
    callbacks.on_failure(context)
    assert received == []


def test_unreachable_webhook_is_logged_not_raised(context, monkeypatch, caplog):
    from cluster import free_port

    monkeypatch.setenv("WORKHEALTH_ALERT_WEBHOOK", f"http://127.0.0.1:{free_port()}/nobody")
    callbacks.on_failure(context)  # must not raise: the task's own failure is what matters
    assert "not sent" in caplog.text


def test_email_alert(smtp_server, context, monkeypatch):
    port, messages = smtp_server
    monkeypatch.setenv("WORKHEALTH_ALERT_EMAILS", "ops@example.org, stat@example.org")
    monkeypatch.setenv("WORKHEALTH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WORKHEALTH_SMTP_PORT", str(port))
    callbacks.on_failure(context)
    [raw] = messages
    message = email.message_from_string(raw, policy=email.policy.default)
    assert message["To"] == "ops@example.org, stat@example.org"
    assert message["Subject"].startswith("workhealth: ingest_deliveries.load_delivery [nav_aap_2018-01_v2] failed")
    assert "checksum mismatch" in message.get_content()
