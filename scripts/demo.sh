#!/usr/bin/env bash
# Install evaltools and run the demo on the example golden set and its recorded runs:
# writes score tables and HTML reports to reports/. Makes no LLM call and needs no compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/evaltools demo "$@"
