#!/usr/bin/env bash
# Checks, on the development machine, that the OpenMPI carried in .debs/ works
# on a machine without one (the GPU machine): in a private mount namespace, the
# system's OpenMPI is hidden behind an overlay of whiteouts, .debs/ is unpacked
# as bench/run_gpu.sh does, and the MPI tests are built against it and run.
# Needs root, unshare and overlayfs. Nothing outside the namespace changes.
#
#   bench/fetch_debs.sh && scripts/check_carried_mpi.sh
# (about 3 minutes on 2 cores; the build and the unpacked packages are removed after)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ ${1:-} != --inside ]]; then
  [[ $(id -u) == 0 ]] || { echo "check_carried_mpi: needs root (mount namespace)" >&2; exit 1; }
  compgen -G "$root/.debs/libopenmpi3_*.deb" >/dev/null ||
    { echo "check_carried_mpi: no OpenMPI in .debs/ (run bench/fetch_debs.sh)" >&2; exit 1; }
  work=$(mktemp -d /tmp/spillmc-hide-mpi.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  # Whiteouts (0:0 character devices) for every file of the system's OpenMPI and
  # its libraries, and for the update-alternatives links that name them.
  upper=$work/upper
  mkdir -p "$upper" "$work/work"
  pkgs=$(dpkg-query -W -f '${Package}\n' | grep -E '^(libopenmpi|openmpi-|libpmix|libhwloc|libevent-|libfabric|libucx|libibverbs|ibverbs-providers|librdmacm|libpsm|libmunge|libnuma|libnl-|libpciaccess|libltdl)' || true)
  hide() {
    local rel=${1#/usr/}
    mkdir -p "$upper/$(dirname "$rel")"
    [[ -e $upper/$rel ]] || mknod "$upper/$rel" c 0 0
  }
  for p in $pkgs; do dpkg -L "$p"; done | sort -u | while read -r f; do
    [[ -d $f ]] && continue
    [[ -e $f || -L $f ]] || continue
    [[ $f == /lib/* ]] && f=/usr$f  # merged /usr
    [[ $f == /usr/* ]] && hide "$f"
  done
  find /usr -xdev -lname '/etc/alternatives/*' 2>/dev/null | while read -r f; do
    case $(readlink "$f") in *mpi* | *orte* | *shmem*) hide "$f" ;; esac
  done
  echo "check_carried_mpi: hiding $(find "$upper" -type c | wc -l) files of the system's OpenMPI"
  unshare -m "$0" --inside "$work"
  exit
fi

# --- inside the namespace ---------------------------------------------------------
work=$2
build=$work/build
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$work/upper,workdir=$work/work" /usr
[[ -d /etc/openmpi ]] && mount -t tmpfs none /etc/openmpi
command -v mpirun >/dev/null && { echo "check_carried_mpi: mpirun still visible" >&2; exit 1; }
cd "$root"
export DEPS_PREFIX=$work/deps
eval "$(bench/run_gpu.sh --print-env)"
echo "check_carried_mpi: mpirun is $(command -v mpirun), OPAL_PREFIX=$OPAL_PREFIX"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPILLMC_ENABLE_CUDA=OFF \
  -DSPILLMC_ENABLE_MPI=ON -DSPILLMC_WARNINGS_AS_ERRORS=ON >"$work/configure.log" 2>&1 ||
  { tail -30 "$work/configure.log"; exit 1; }
grep -E '^(MPI_CXX_COMPILER|MPIEXEC_EXECUTABLE):' "$build/CMakeCache.txt"
cmake --build "$build" -j "$(nproc)" --target spillmc test_mpi >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; exit 1; }
ldd "$build/bin/spillmc" | grep -E 'libmpi|libopen-pal'
"$build/bin/test_mpi"
