#!/bin/sh
# Docker HEALTHCHECK: every port in HEALTH_PORTS must answer /health with 2xx.
# The one image runs `flowmon all` on 5010-5012 by default; the per-service images
# (deploy/monitoring/*/Dockerfile) listen on 8000 and set HEALTH_PORTS=8000.
set -eu

for port in ${HEALTH_PORTS:-5010 5011 5012}; do
    curl --fail --silent --show-error --max-time 5 --output /dev/null \
        "http://127.0.0.1:${port}/health"
done
