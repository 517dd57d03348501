#!/usr/bin/env bash
# Install evaltools with the local LLM and a browser, then run the whole test suite
# (slow integration tests included). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --local --browser
.venv/bin/python -m pytest -p no:cacheprovider "$@"
