"""Notifications (SPEC §6, issue 16): channels, routes, an outbox written in the action's
transaction, and a dispatcher that delivers at least once with a stable event id."""
