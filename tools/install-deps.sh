#!/usr/bin/env bash
# Installs everything anycost needs on Debian 12 (as root, or through sudo when not root).
#   tools/install-deps.sh          build + tests + examples (includes python3-torch for the converter test)
#   tools/install-deps.sh --bench  also LibTorch for the side-by-side benchmarks
set -euo pipefail
sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
packages=(build-essential cmake libeigen3-dev nlohmann-json3-dev catch2 libbenchmark-dev libopenblas-dev
          libstb-dev libpng-dev libjpeg62-turbo-dev libcli11-dev python3 python3-torch python3-numpy
          fonts-noto-color-emoji python3-fonttools python3-pil libcpp-httplib-dev
          chromium chromium-driver python3-selenium libopenmpi-dev openmpi-bin)
if [ "${1:-}" = "--bench" ]; then packages+=(libtorch-dev); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "anycost: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
