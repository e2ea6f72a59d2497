// The CUDA entry points of backend.hpp for a build without the CUDA toolkit:
// callers see "no device" rather than a link error or a forest of #ifdefs.
#include <memory>

#include "spillmc/backend.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/sobol_design.hpp"

namespace spillmc {

bool cuda_compiled() {
  return false;
}

int cuda_device_count() {
  return 0;
}

std::unique_ptr<Backend> make_cuda_backend(int /*device_index*/) {
  throw CudaError(
      "this build has no CUDA backend; rebuild with the CUDA toolkit (SPILLMC_ENABLE_CUDA)");
}

void sobol_cuda_blocks(int /*device*/, const SobolDesign& /*d*/, std::uint64_t /*first_block*/,
                       std::uint64_t /*nblocks*/, std::uint64_t* /*counts*/, double* /*sums*/) {
  throw CudaError(
      "this build has no CUDA backend; rebuild with the CUDA toolkit (SPILLMC_ENABLE_CUDA)");
}

}  // namespace spillmc
