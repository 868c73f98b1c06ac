#!/bin/bash
# Build CaChannel against conda-forge's epics-base, installed under
# $PREFIX/epics; its activation script may already have set the variables.
set -euo pipefail

export EPICS_BASE="${EPICS_BASE:-$PREFIX/epics}"
if [ -z "${EPICS_HOST_ARCH:-}" ]; then
    EPICS_HOST_ARCH=$(perl "$EPICS_BASE/lib/perl/EpicsHostArch.pl")
    export EPICS_HOST_ARCH
fi

"$PYTHON" -m pip install . --no-deps --no-build-isolation -vv
