#!/usr/bin/env bash
# Snakemake runs this inside a freshly created conda environment, from the directory snakemake
# was started in (the repository root): install the talkgs package whose CLI the rules call.
set -euo pipefail
pip install --no-deps --no-build-isolation -e .
