"""The sandbox gateway: a stand-in for a developer's model-serving edge (DESIGN §5).

It runs as its own process (`python manage.py run_sandbox_gateway`), implements the actuator
HTTP contract (docs/actuator-openapi.yaml) and serves a toy inference endpoint that enforces the
active corrections, so the demo and the end-to-end tests can show a correction taking effect.
Nothing here touches the Django database: the gateway keeps its own state on disk.
"""

VERSION = "failsafe-sandbox 1.0"
CONTRACT_VERSION = "1.0"
