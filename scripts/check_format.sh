#!/usr/bin/env bash
# Fails if any C++/CUDA source differs from clang-format's output (.clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.cu' '*.cuh' '*.hpp.in')
clang-format --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files clean"
