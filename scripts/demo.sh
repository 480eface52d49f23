#!/usr/bin/env bash
# The README demo: runs unattended on the embedded default (local emulator, no AWS, no model server).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate agent.yaml (spec, every environment, agent code)"
$BIN/deployer validate

step "what production compiles to"
COLUMNS=${COLUMNS:-150} $BIN/deployer plan --env production
