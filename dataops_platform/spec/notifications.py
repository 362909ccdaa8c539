"""Cross-checks of the spec's `notifications` section (called by `spec.loader.cross_check`; part of
the spec layer, so the notify package, which reads the spec, is never imported by it).

Each problem names its path and value, so `spec validate` exits 2 saying what to fix: a route or
`escalate_to` naming no channel, a URL that is not plain http(s) or carries credentials, an
unknown event, project or category, and a `secret_env` / `url_env` variable that is not set in
the environment validating the spec (the dispatcher reads it from the same kind of environment:
a missing secret found at delivery time would dead-letter every event silently until then).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from urllib.parse import urlsplit

from dataops_platform.spec.models import ALERT_CATEGORIES, NOTIFY_EVENTS, PlatformSpec, SlackChannelSpec, WebhookChannelSpec


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a delivery target, or None: http(s) only, a host, no credentials, no blanks."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "a URL may not hold blanks or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "the URL names no host"
    if parts.username is not None or parts.password is not None:
        return "credentials may not appear in a URL; put a webhook secret in secret_env, a Slack URL in url_env"
    return None


def notification_problems(spec: PlatformSpec, environ: Mapping[str, str] | None = None) -> list:
    """Every problem of `spec.notifications`, as loader SpecProblems."""
    from dataops_platform.spec.loader import SpecProblem  # the loader imports this module

    env = os.environ if environ is None else environ
    section = spec.notifications
    problems: list[SpecProblem] = []
    counts = Counter(c.id for c in section.channels)
    channels = set(counts)
    for i, channel in enumerate(section.channels):
        base = f"notifications.channels[{i}]"
        if counts[channel.id] > 1:
            problems.append(SpecProblem(f"{base}.id", channel.id, f"duplicate id (appears {counts[channel.id]} times)"))
        if isinstance(channel, (WebhookChannelSpec, SlackChannelSpec)) and channel.url is not None:
            if (why := url_problem(channel.url)) is not None:
                problems.append(SpecProblem(f"{base}.url", channel.url, why))
        if isinstance(channel, WebhookChannelSpec) and not env.get(channel.secret_env):
            problems.append(
                SpecProblem(
                    f"{base}.secret_env", channel.secret_env, "environment variable is not set (or empty); set it to the secret"
                )
            )
        if isinstance(channel, SlackChannelSpec):
            if (channel.url is None) == (channel.url_env is None):
                problems.append(SpecProblem(f"{base}.url", channel.url, "give exactly one of url and url_env"))
            elif channel.url_env is not None:
                value = env.get(channel.url_env)
                if not value:
                    problems.append(SpecProblem(f"{base}.url_env", channel.url_env, "environment variable is not set (or empty)"))
                elif (why := url_problem(value)) is not None:
                    problems.append(SpecProblem(f"{base}.url_env", channel.url_env, f"its value is not a usable URL: {why}"))
    projects = {p.id for p in spec.projects}
    for i, route in enumerate(section.routes):
        base = f"notifications.routes[{i}]"
        if route.channel not in channels:
            problems.append(
                SpecProblem(f"{base}.channel", route.channel, "unknown channel; declare it under notifications.channels")
            )
        if route.escalate_to is not None and route.escalate_to not in channels:
            problems.append(SpecProblem(f"{base}.escalate_to", route.escalate_to, "unknown channel"))
        for j, event in enumerate(route.events):
            if event not in NOTIFY_EVENTS:
                problems.append(SpecProblem(f"{base}.events[{j}]", event, f"unknown event; known: {', '.join(NOTIFY_EVENTS)}"))
        for j, project in enumerate(route.projects):
            if project != "*" and project not in projects:
                problems.append(SpecProblem(f"{base}.projects[{j}]", project, "unknown project (or '*' for every project)"))
        for j, category in enumerate(route.categories or ()):
            if category not in ALERT_CATEGORIES:
                problems.append(
                    SpecProblem(f"{base}.categories[{j}]", category, f"unknown category; known: {', '.join(ALERT_CATEGORIES)}")
                )
    return problems
