#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: chromium (browser
# client tests), coturn (TURN relay tests), libsodium23 (ristretto255 for spoken
# codes, docs/protocol.md §11), and iproute2 + nftables (the network lab of
# namespaces and NAT routers, tests/lab). Idempotent; fails loudly.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
ldconfig -p 2>/dev/null | grep -q 'libsodium\.so\.23' || need+=(libsodium23)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
