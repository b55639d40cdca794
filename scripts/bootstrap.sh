#!/usr/bin/env bash
# Create (or refresh) the project-local virtual environment .venv/ from requirements-dev.txt.
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_venv
ensure_collection_link
log "Virtual environment ready: ${VENV}"
