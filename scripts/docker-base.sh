#!/usr/bin/env bash
# Makes sure the Docker base image debian:bookworm-slim exists locally, so
# that `docker build -f docker/Dockerfile .` needs no registry. Online,
# `docker build` pulls it by itself and this script is not needed; on a
# machine whose Docker Engine has no registry it builds the image from
# Debian's packages instead: `mmdebstrap --variant=minbase bookworm` (with
# the bookworm-updates and bookworm-security suites, shaped like the
# official slim image) piped into `docker import`, tagged
# debian:bookworm-slim. An image already present is left alone. As root it
# installs mmdebstrap with apt-get; otherwise it prints the exact command to
# run and fails.
#
# Usage: scripts/docker-base.sh [--force]   (--force: rebuild even if present)
# Env:   RC_BASE_IMAGE     tag to create (default debian:bookworm-slim)
#        RC_DEBIAN_MIRROR  mirror URI (default: mmdebstrap's, deb.debian.org)
set -euo pipefail

image=${RC_BASE_IMAGE:-debian:bookworm-slim}
force=0
case ${1:-} in
    --force) force=1 ;;
    "") ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

if ! command -v docker >/dev/null 2>&1; then
    echo "ringcache: docker is not installed" >&2
    exit 1
fi
if [ $force -eq 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "ringcache: base image $image present"
    exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "ringcache: $image is missing and building it needs mmdebstrap." >&2
        echo "Install it with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y mmdebstrap" >&2
        exit 1
    fi
    echo "ringcache: installing mmdebstrap" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Shaped like the official image (debuerreotype): merged /usr made by
# mmdebstrap's hook (with usr-is-merged) instead of the usrmerge package,
# which would pull in perl; the slim variant's exclusions (documentation but
# the copyright files, man and info pages, translations); and its apt
# settings for image layers, so that a Dockerfile's `apt-get install` leaves
# no package caches in a layer here either.
mkdir "$work/apt.conf.d"
printf '%s\n' \
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache "";' \
    'Dir::Cache::srcpkgcache "";' >"$work/apt.conf.d/docker-clean"
echo 'Acquire::GzipIndexes "true";' >"$work/apt.conf.d/docker-gzip-indexes"
echo 'Acquire::Languages "none";' >"$work/apt.conf.d/docker-no-languages"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$work/apt.conf.d/docker-autoremove-suggests"
# shellcheck disable=SC2016 # "$1" in a hook is the chroot, for mmdebstrap's sh
opts=(
    --variant=minbase
    --format=tar
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/groff/*'
    --dpkgopt='path-exclude=/usr/share/linda/*'
    --dpkgopt='path-exclude=/usr/share/lintian/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --customize-hook="copy-in $(printf '%s ' "$work"/apt.conf.d/*)/etc/apt/apt.conf.d"
    # With those settings mmdebstrap's own clean-up no longer finds apt's
    # binary caches (70 MB), so they go here.
    --customize-hook='rm -f "$1"/var/cache/apt/*.bin'
)
mirror=()
if [ -n "${RC_DEBIAN_MIRROR:-}" ]; then
    mirror=("$RC_DEBIAN_MIRROR")
fi

echo "ringcache: building $image from Debian's packages (mmdebstrap, about a minute)"
start=$SECONDS
# mmdebstrap's chatter is kept and shown only if something fails. A failing
# mmdebstrap fails the pipeline (pipefail), and docker import of a truncated
# tar fails too, so no half-made image is ever tagged.
if ! mmdebstrap "${opts[@]}" bookworm - "${mirror[@]}" 2>"$work/mmdebstrap.log" |
    docker import --change 'CMD ["bash"]' \
        --message "mmdebstrap --variant=minbase bookworm (scripts/docker-base.sh)" \
        - "$image" >/dev/null; then
    cat "$work/mmdebstrap.log" >&2
    echo "ringcache: building $image failed (mmdebstrap output above)" >&2
    exit 1
fi
echo "ringcache: $image built in $((SECONDS - start)) s" \
    "($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))"
