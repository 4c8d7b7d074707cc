#!/bin/bash
# Add the apt entries nvme-accel needs (bookworm-backports binaries, trixie
# sources for QEMU), derived from the machine's existing apt configuration:
# we reuse the URI of the entry that already serves the main Debian suite, so
# no archive host name is ever written by this project.
set -euo pipefail

LIST=/etc/apt/sources.list.d/nvme-accel.sources
STAMP=/var/lib/apt/nvme-accel.stamp

main_debian_uri() {
    # deb822 files first, then one-line lists.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        [ "$f" = "$LIST" ] && continue
        awk '
            BEGIN { RS = ""; FS = "\n" }
            {
                uri = ""; suites = ""; types = ""
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/)   { uri = $i;    sub(/^URIs:[ \t]*/, "", uri) }
                    if ($i ~ /^Suites:/) { suites = $i }
                    if ($i ~ /^Types:/)  { types = $i }
                }
                if (types ~ /deb/ && suites ~ /[ \t]bookworm([ \t]|$)/) {
                    split(uri, u, /[ \t]+/); print u[1]; exit
                }
            }' "$f"
    done
    if [ -e /etc/apt/sources.list ]; then
        awk '$1 == "deb" && $3 == "bookworm" { print ($2 ~ /^\[/) ? $3 : $2; exit }' \
            /etc/apt/sources.list
    fi
}

uri=$(main_debian_uri | head -n1)
if [ -z "$uri" ]; then
    echo "apt-setup: no apt entry for Debian bookworm found; cannot derive" \
         "a mirror for bookworm-backports and trixie sources" >&2
    exit 1
fi

want=$(cat <<EOT
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $uri
Suites: trixie bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
)

if [ ! -e "$LIST" ] || [ "$(cat "$LIST")" != "$want" ] || [ ! -e "$STAMP" ] ||
   [ -n "$(find "$STAMP" -mmin +720 2>/dev/null)" ]; then
    printf '%s\n' "$want" > "$LIST"
    apt-get update -qq
    touch "$STAMP"
fi
