#!/usr/bin/env bash
# Installs the Debian packages SpillMC needs, and only those that are missing,
# so it is fast when everything is there. The CUDA toolkit is optional and not
# installed here (CMake uses it when nvcc is found).
set -euo pipefail

packages=(
  cmake g++ make pkg-config git
  librandom123-dev libhdf5-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin
  hdf5-tools clang-format
  python3-numpy python3-h5py python3-matplotlib python3-yaml python3-xarray python3-h5netcdf time
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install packages" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
