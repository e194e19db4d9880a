# shellcheck shell=bash
# Sourced by the scripts: Debian packages the build and the tests need, installed when root,
# named with the exact apt line otherwise.

# Headers and libraries snap links (libcurl, zlib, libcrypto) and the CA store for HTTPS.
# shellcheck disable=SC2034 # used by the scripts that source this file
BUILD_PACKAGES=(libcurl4-openssl-dev zlib1g-dev libssl-dev ca-certificates)
# The fake Polymarket (python3, openssl for its throwaway CA, tzdata for zoneinfo), unshare and
# setpriv (util-linux) for the disk-full and unwritable tests, systemd-analyze for the units,
# rclone (Debian's 1.60, the one the VPS runs) for ship and its loopback sftp/webdav remotes,
# GNU time for the fuzz tests' peak RSS of each run; python3-venv (the pinned DuckDB, pandas and
# polars come from PyPI into a virtualenv), jq and fuse3 (rclone mount) for the recipes of
# docs/READING.md, which scripts/reading-recipes runs; python3-prometheus-client (its parser
# reads gate health's textfile as Prometheus does).
# shellcheck disable=SC2034
TEST_PACKAGES=(python3 python3-venv openssl tzdata util-linux systemd gzip rclone time jq fuse3 python3-prometheus-client)

# scripts/package: dpkg-deb and dpkg-shlibdeps (dpkg-dev), strip and readelf (binutils),
# python3 for BUILD.json; scripts/package-test also lintian, and mmdebstrap and systemd-nspawn
# (systemd-container) for its Debian 12 root.
# shellcheck disable=SC2034
PACKAGE_PACKAGES=(dpkg-dev binutils python3 git)
# shellcheck disable=SC2034
PACKAGE_TEST_PACKAGES=(lintian mmdebstrap systemd-container iproute2 openssl python3 util-linux)

ensure_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing: ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    else
        echo "missing Debian packages; install them with:" >&2
        echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
}
