# Sourced by scripts/install-*-tools.sh (not run on its own).
#
# apt_install NAME PACKAGE...: install Debian packages, as root or through sudo. apt-get runs
# with the package lists at hand when apt knows every package; if it does not, or if those
# lists are stale (a download fails), the lists are updated once and the install tried again.
# NAME prefixes the messages. Debian/Ubuntu only.

apt_install() {
    local name=$1
    shift
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "$name: need root (or sudo) to install: $*" >&2
            return 1
        fi
    fi
    echo "$name: installing $*"
    export DEBIAN_FRONTEND=noninteractive
    local known=1 pkg
    for pkg in "$@"; do
        apt-cache show "$pkg" >/dev/null 2>&1 || known=0
    done
    if [ "$known" -eq 0 ] ||
        ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}
