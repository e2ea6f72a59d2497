#!/usr/bin/env bash
# Downloads the Debian packages SpillMC builds against (headers, CMake files,
# shared libraries and their runtime dependencies) into .debs/, for a machine
# that lacks them and cannot reach a package registry (the GPU machine).
# bench/run_gpu.sh unpacks them with `dpkg -x` into a private prefix
# (/tmp/deps), never into /, and points CMake and the loader at it.
#
#   bench/fetch_debs.sh            # into .debs/ at the repository root
#   DEST=/some/dir bench/fetch_debs.sh
#
# Run it on a Debian 12 (bookworm) machine like the development one: the
# package names and versions are bookworm's. The base system (libc6,
# libstdc++6, libgcc-s1, zlib1g) is not fetched: the target has its own.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${DEST:-$root/.debs}

# Build-time packages: headers, .so links, CMake package files.
dev=(
  librandom123-dev libhdf5-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Shared libraries the programs load; their runtime dependencies are added below.
runtime=(
  libhdf5-103-1 libhdf5-hl-100 libspdlog1.10 libfmt9 libyaml-cpp0.7 libbenchmark1debian
  libsz2 libaec0 libcurl4
)
# OpenMPI, for the MPI build and its tests (ranks on GPUs). Not the closure of
# openmpi-bin, which drags in ssh, X11, ICU and PAM: Debian's launcher, libraries,
# headers and wrapper data, what its core libraries link, and the libraries of
# the shared-memory and network components. bench/run_gpu.sh relocates it
# (OPAL_PREFIX); components whose providers are missing (InfiniBand) are skipped.
mpi=(
  openmpi-bin openmpi-common libopenmpi3 libopenmpi-dev libpmix2 libhwloc15
  libevent-core-2.1-7 libevent-pthreads-2.1-7 libudev1 libmunge2 libnuma1 libltdl7
  libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libfabric1 libucx0 libpsm2-2
  libpsm-infinipath1 libpciaccess0
)
# Provided by any Linux system that can run a C++ program; never carried.
base='^(libc6|libgcc-s1|libstdc\+\+6|gcc-12-base|zlib1g|debconf|libcrypt1)$'

command -v apt-get >/dev/null || { echo "fetch_debs: needs apt-get (Debian)" >&2; exit 1; }

# The closure of the runtime libraries' dependencies (Depends and PreDepends only).
mapfile -t closure < <(
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${runtime[@]}" |
    grep -v '^ ' | grep -v '^<' | grep -Ev "$base" | sort -u
)
if ((${#closure[@]} == 0)); then
  echo "fetch_debs: apt-cache knows none of the packages; run 'apt-get update' first" >&2
  exit 1
fi
mapfile -t all < <(printf '%s\n' "${dev[@]}" "${closure[@]}" "${mpi[@]}" | sort -u)

mkdir -p "$dest"
cd "$dest"
rm -f ./*.deb
echo "fetch_debs: downloading ${#all[@]} packages into $dest"
apt-get download "${all[@]}"

# Keep the folder out of git (the device tool carries only ignored paths).
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1 && [[ $dest == "$root/.debs" ]]; then
  if ! git -C "$root" check-ignore -q "$dest"; then
    exclude=$(git -C "$root" rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    echo "/.debs/" >>"$exclude"
    echo "fetch_debs: added /.debs/ to $exclude"
  fi
fi
du -sh "$dest" | awk '{print "fetch_debs: " $1 " in " $2}'
echo "fetch_debs: carry it with the device tool: run(carry=[\".debs\"], command=\"bench/run_gpu.sh\")"
