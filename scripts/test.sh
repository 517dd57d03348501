#!/usr/bin/env bash
# Install evaltools with the local LLM, a browser and Spark, then run the whole test suite
# (slow integration tests included). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --local --browser --spark
export SPARK_LOCAL_IP=127.0.0.1  # the local Spark session binds to loopback only
.venv/bin/python -m pytest -p no:cacheprovider "$@"
