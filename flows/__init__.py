"""The Prefect layer and the CLI: the monitoring flow, its tasks, deployments, alerts, commands."""

import os

# quiet, offline defaults for Prefect, set before prefect is first imported (a user's own
# environment or profile still wins): no telemetry calls from a machine that may have no
# network, and a start-up allowance for the temporary server on slow machines
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

# an empty PREFECT_API_URL (an .env line "PREFECT_API_URL=") means no API, as unset does:
# Prefect would run the flow on a temporary server, yet send its events to the empty URL,
# and print a traceback for each one
if not os.environ.get("PREFECT_API_URL", "unset").strip():
    del os.environ["PREFECT_API_URL"]
