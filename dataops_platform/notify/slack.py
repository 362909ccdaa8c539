"""Slack incoming webhooks: a readable message (severity, object, project, what to do, a link)."""

from __future__ import annotations

import json
from typing import Any

from dataops_platform.notify.channel import Channel, post_json
from dataops_platform.notify.events import summarize


def _escape(text: str) -> str:
    # Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(Channel):
    kind = "slack"

    def message(self, delivery: Any) -> dict[str, Any]:
        s = summarize(delivery, self.settings.notify_link_base)
        facts = "\n".join(f"*{_escape(k)}:* {_escape(v)}" for k, v in s.facts)
        text = f"{s.headline} ({delivery.subject_ref or '-'}, project {delivery.project_id or '-'})"
        return {
            "text": _escape(text),  # the notification and fallback text
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": s.headline[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {_escape(s.todo)}"}},
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"<{s.link}|Open in Dagster> · event {delivery.event_id}"}],
                },
            ],
        }

    def send(self, delivery: Any) -> None:
        url = self.config.get("url") or self._env(self.config["url_env"])
        post_json(url, json.dumps(self.message(delivery)).encode("utf-8"), {}, self.timeout)
