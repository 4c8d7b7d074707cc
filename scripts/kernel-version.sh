#!/bin/bash
# Print the versioned Debian kernel package that the metapackage
# linux-{image,headers}-amd64 of a suite points at, e.g.
#   kernel-version.sh headers bookworm-backports -> linux-headers-6.12.x+bpo-amd64
#   kernel-version.sh release bookworm-backports -> 6.12.x+bpo-amd64
set -euo pipefail
kind=$1 suite=$2
meta=linux-headers-amd64
[ "$kind" = image ] && meta=linux-image-amd64
ver=$(apt-cache madison "$meta" | awk -v s="$suite/" '$0 ~ s { print $3; exit }')
[ -n "$ver" ] || { echo "kernel-version: $meta not found in $suite" >&2; exit 1; }
dep=$(apt-cache depends "$meta=$ver" | awk '/Depends: linux-(image|headers)-[0-9]/ { print $2; exit }')
case "$kind" in
    headers|image) echo "$dep" ;;
    release) echo "${dep#linux-headers-}" ;;
esac
