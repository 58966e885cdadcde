#!/usr/bin/env bash
# Install what ftrackfs needs to build, test and run on Debian 12.
# Only packages that are missing are installed; runs apt-get update at most once.
set -euo pipefail

packages=(
	build-essential meson ninja-build pkg-config
	libfuse3-dev fuse3
	libcurl4-openssl-dev libcjson-dev liblmdb-dev lmdb-utils libssl-dev ca-certificates
	libcmocka-dev
	clang libclang-rt-14-dev
	python3 python3-pytest
	attr rsync libglib2.0-bin
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

# The conformance tests run the official ftrack JavaScript client; use the
# machine's Node.js when it has one, Debian's otherwise.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	for p in nodejs npm; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
	done
fi

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
