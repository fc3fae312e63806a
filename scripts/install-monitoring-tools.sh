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

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-monitoring-tools: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install-monitoring-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
install() {
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
known=1
for pkg in "${missing[@]}"; do
    apt-cache show "$pkg" >/dev/null 2>&1 || known=0
done
if [ "$known" -eq 0 ] || ! install; then
    "${SUDO[@]}" apt-get update -qq
    install
fi
for tool in prometheus promtool openssl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-monitoring-tools: $tool still missing after installing ${missing[*]}" >&2
        exit 1
    }
done
echo "install-monitoring-tools: done ($(prometheus --version 2>&1 | head -n 1))"
