#!/bin/sh
# Container entrypoint: `flowmon "$@"`, after mapping SPEC §8.3's secret names.
#
# secrets.env (SPEC §8.3) is shared with FlowRent and names things the way FlowRent reads
# them: ERROR_TRACKER_API_KEY, METRICS_COLLECTOR_API_KEY, OWNER_EMAILS. flowmon reads
# ERRORS_API_KEY, METRICS_API_KEY and ALERT_EMAILS (SPEC §4.7/§6.8). Mapping them here lets
# one secrets.env serve both sides unchanged. A flowmon name that is set wins; an empty
# value is never exported (flowmon refuses keys under 32 characters, SPEC §10.4).
set -eu

if [ -z "${ERRORS_API_KEY:-}" ] && [ -n "${ERROR_TRACKER_API_KEY:-}" ]; then
    ERRORS_API_KEY=$ERROR_TRACKER_API_KEY
    export ERRORS_API_KEY
fi
if [ -z "${METRICS_API_KEY:-}" ] && [ -n "${METRICS_COLLECTOR_API_KEY:-}" ]; then
    METRICS_API_KEY=$METRICS_COLLECTOR_API_KEY
    export METRICS_API_KEY
fi
if [ -z "${ALERT_EMAILS:-}" ] && [ -z "${ERRORS_ALERT_EMAILS:-}" ] && [ -n "${OWNER_EMAILS:-}" ]; then
    ERRORS_ALERT_EMAILS=$OWNER_EMAILS
    export ERRORS_ALERT_EMAILS
fi
exec flowmon "$@"
