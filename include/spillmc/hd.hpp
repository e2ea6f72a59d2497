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

// Inlined on the host too, whatever GCC's size heuristics say: for functions
// that the CPU's lane loops call, which vectorize only once fully inlined.
#if defined(__CUDACC__)
#define SPILLMC_HD_FORCE_INLINE SPILLMC_HD_INLINE
#elif defined(__GNUC__)
#define SPILLMC_HD_FORCE_INLINE inline __attribute__((always_inline))
#else
#define SPILLMC_HD_FORCE_INLINE inline
#endif

// Unrolls the loop that follows: fixed-size arrays indexed by its counter then
// stay in registers on the device.
#if defined(__CUDACC__)
#define SPILLMC_UNROLL _Pragma("unroll")
#elif defined(__clang__)
#define SPILLMC_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define SPILLMC_UNROLL _Pragma("GCC unroll 16")
#else
#define SPILLMC_UNROLL
#endif
