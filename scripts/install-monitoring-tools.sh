#!/usr/bin/env bash
# Install the tools that tests/metrics needs, from Debian's packages:
#   prometheus (the server, /usr/bin/prometheus)   tests/metrics/test_prometheus_e2e.py
#   promtool (ships in the same package)           tests/metrics/test_promtool.py
# Idempotent and quick when both are there: apt runs only when one is missing, and the package
# lists are refreshed only when apt does not know the package or a download fails.
# `apt-get install` never starts services on these machines; the tests start Prometheus
# themselves and stop it by PID. Needs root (or sudo); Debian/Ubuntu only.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    echo "install-monitoring-tools: prometheus and promtool are installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-monitoring-tools: need root (or sudo) to install prometheus" >&2
        exit 1
    fi
fi

echo "install-monitoring-tools: installing prometheus"
export DEBIAN_FRONTEND=noninteractive
install() {
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}
if ! apt-cache show prometheus >/dev/null 2>&1 || ! install; then
    "${SUDO[@]}" apt-get update -qq
    install
fi
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-monitoring-tools: $tool still missing after installing prometheus" >&2
        exit 1
    }
done
echo "install-monitoring-tools: done ($(prometheus --version 2>&1 | head -n 1))"
