#!/bin/sh
# Install flowmon into its own virtualenv: the one install path of the Docker image
# (deploy/Dockerfile), of a VPS without Docker (docs/operations.md) and of the test that
# checks both (tests/deploy/test_install.py), so the three cannot drift apart.
#
# Usage: install.sh PREFIX [SOURCE]
#   PREFIX  virtualenv to create or update, e.g. /opt/flowmon
#   SOURCE  the project folder (pyproject.toml) or a wheel; default: the current folder
#
# The front-end assets (core/ui/static/vendor/) must be built before: `make setup` does it
# on a workstation, the Dockerfile's node stage does it for the image.
set -eu

prefix=${1:?usage: install.sh PREFIX [SOURCE]}
source=${2:-.}
python=${PYTHON:-python3}

"$python" -m venv "$prefix"
"$prefix/bin/pip" install --no-cache-dir --quiet --upgrade pip
"$prefix/bin/pip" install --no-cache-dir --quiet "$source"
"$prefix/bin/flowmon" --help >/dev/null
