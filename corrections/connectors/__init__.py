"""Connectors: how Failsafe reaches a developer's control plane. One interface, many kinds."""

from __future__ import annotations

from corrections.connectors.base import CallResult, Connector
from corrections.connectors.http import HttpActuatorConnector


def connector_for(actuator) -> Connector:
    """The connector for a configured corrections.models.Actuator."""
    if actuator.kind == "http":
        return HttpActuatorConnector(
            base_url=actuator.base_url,
            secret=actuator.secret,
            connect_timeout=actuator.connect_timeout_seconds,
            read_timeout=actuator.read_timeout_seconds,
        )
    raise ValueError(f"unknown actuator kind {actuator.kind!r}")


__all__ = ["CallResult", "Connector", "HttpActuatorConnector", "connector_for"]
