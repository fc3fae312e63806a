#!/usr/bin/env bash
# Install the tools that tests/metrics needs, from Debian's packages:
#   prometheus (the server, /usr/bin/prometheus)   tests/metrics/test_prometheus_e2e.py
#   promtool (ships in the same package)           tests/metrics/test_promtool.py
#   openssl (a throwaway certificate)               tests/metrics/test_endpoint.py (TLS)
# Idempotent and quick when all are there: apt runs only when one is missing, and the package
# lists are refreshed only when apt does not know the package or a download fails.
# `apt-get install` never starts services on these machines; the tests start Prometheus
# themselves and stop it by PID. Needs root (or sudo); Debian/Ubuntu only.
set -euo pipefail

missing=()
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    missing+=(prometheus)
fi
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-monitoring-tools: prometheus, promtool and openssl are installed"
    exit 0
fi

# shellcheck source=scripts/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install install-monitoring-tools "${missing[@]}"
for tool in prometheus promtool openssl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-monitoring-tools: $tool still missing after installing ${missing[*]}" >&2
        exit 1
    }
done
echo "install-monitoring-tools: done ($(prometheus --version 2>&1 | head -n 1))"
