// Execution-space macro: the model and the accumulators are written once and
// compiled by both the host compiler and nvcc.
#pragma once

#if defined(__CUDACC__)
#define SPILLMC_HD __host__ __device__
#define SPILLMC_HD_INLINE __host__ __device__ __forceinline__
#else
#define SPILLMC_HD
#define SPILLMC_HD_INLINE inline
#endif
