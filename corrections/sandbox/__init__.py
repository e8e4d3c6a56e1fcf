"""The sandbox gateway: a stand-in for a developer's model-serving edge (DESIGN §5).

It runs as its own process (`python manage.py run_sandbox_gateway`), implements the actuator
HTTP contract (docs/actuator-openapi.yaml) and serves a toy inference endpoint that enforces the
active corrections, so the demo and the end-to-end tests can show a correction taking effect.
Nothing here touches the Django database or needs Django settings: the gateway keeps its own
state on disk. No app imports this package (it is another process); they reach it over HTTP or
through its management commands.

  gateway.py      Gateway.handle: routing, signatures, the actuator contract, the toy model
  contract.py     reading request bodies;  enforce.py  what /v1/generate may answer
  idempotency.py  the idempotency log;  replay.py  refusing a replayed signature
  faults.py       fault injection for tests;  state.py  the state files and seed()
  app.py          the WSGI application;  wsgi.py  `application` from the environment
  serve.py        gunicorn, one process with threads, graceful on SIGTERM and SIGINT
"""

VERSION = "failsafe-sandbox 1.0"
CONTRACT_VERSION = "1.0"
