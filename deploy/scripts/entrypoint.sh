#!/bin/sh
# Container entrypoint: `flowmon "$@"`, after mapping SPEC §8.3's secret names.
#
# secrets.env (SPEC §8.3) names the keys after the client side, the names FlowRent reads:
# ERROR_TRACKER_API_KEY and METRICS_COLLECTOR_API_KEY. flowmon reads ERRORS_API_KEY and
# METRICS_API_KEY (or API_KEY). One secrets.env then serves both sides, unchanged.
# An explicitly set flowmon name wins; an empty value is never exported, since flowmon
# refuses a key shorter than 32 characters (SPEC §10.4).
set -eu

if [ -z "${ERRORS_API_KEY:-}" ] && [ -n "${ERROR_TRACKER_API_KEY:-}" ]; then
    ERRORS_API_KEY=$ERROR_TRACKER_API_KEY
    export ERRORS_API_KEY
fi
if [ -z "${METRICS_API_KEY:-}" ] && [ -n "${METRICS_COLLECTOR_API_KEY:-}" ]; then
    METRICS_API_KEY=$METRICS_COLLECTOR_API_KEY
    export METRICS_API_KEY
fi
exec flowmon "$@"
