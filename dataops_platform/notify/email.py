"""Mail over SMTP: a multipart message with a text and an HTML part (settings: DATAOPS_SMTP_*)."""

from __future__ import annotations

import html
import smtplib
from email.message import EmailMessage
from typing import Any

from dataops_platform.notify.channel import Channel, DeliveryFailed
from dataops_platform.notify.events import summarize


class EmailChannel(Channel):
    kind = "email"

    def message(self, delivery: Any) -> EmailMessage:
        s = summarize(delivery, self.settings.notify_link_base)
        msg = EmailMessage()
        msg["Subject"] = s.headline[:200]
        msg["From"] = self.settings.smtp_sender
        msg["To"] = ", ".join(self.config["to"])
        msg["X-DataOps-Event-Id"] = delivery.event_id
        lines = [s.headline, "", *(f"{k}: {v}" for k, v in s.facts), "", f"What to do: {s.todo}", f"Link: {s.link}"]
        msg.set_content("\n".join(lines) + f"\n\nevent {delivery.event_id}\n")
        rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in s.facts)
        msg.add_alternative(
            f"<html><body><h2>{html.escape(s.headline)}</h2><table>{rows}</table>"
            f"<p><b>What to do:</b> {html.escape(s.todo)}</p><p><a href='{html.escape(s.link)}'>Open in Dagster</a></p>"
            f"<p style='color:#888'>event {html.escape(delivery.event_id)}</p></body></html>",
            subtype="html",
        )
        return msg

    def send(self, delivery: Any) -> None:
        st = self.settings
        try:
            with smtplib.SMTP(st.smtp_host, st.smtp_port, timeout=self.timeout) as smtp:
                if st.smtp_starttls:
                    smtp.starttls()
                if st.smtp_user:
                    smtp.login(st.smtp_user, self._env(st.smtp_password_env))
                smtp.send_message(self.message(delivery))
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"SMTP {st.smtp_host}:{st.smtp_port}: {type(exc).__name__}: {exc}") from None
