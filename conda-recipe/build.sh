#!/bin/bash
# Build CaChannel against conda-forge's epics-base, installed under
# $PREFIX/epics; its activation script may already have set the variables.
set -euo pipefail

export EPICS_BASE="${EPICS_BASE:-$PREFIX/epics}"
if [ -z "${EPICS_HOST_ARCH:-}" ]; then
    EPICS_HOST_ARCH=$(perl "$EPICS_BASE/lib/perl/EpicsHostArch.pl")
    export EPICS_HOST_ARCH
fi

# A package without the C extension would be a silent downgrade.
export CACHANNEL_REQUIRE_EXTENSION=1
"$PYTHON" -m pip install . --no-deps --no-build-isolation -vv
