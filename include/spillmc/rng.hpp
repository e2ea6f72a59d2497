// Counter-based randomness: every random number of draw i is a pure function
// of (seed, stream, i, slot). No state is carried between draws, so results do
// not depend on threads, blocks, GPUs or ranks. Layout documented in docs/rng.md.
#pragma once

#include <Random123/philox.h>

#include <cstdint>

#include "spillmc/hd.hpp"

namespace spillmc {

// What ctr[3] holds: the purpose of a Philox call within one draw.
// Primary calls give the uniforms of the six parameters, two per call; extra
// calls serve samplers that need more than one uniform (rejection loops).
SPILLMC_HD_INLINE std::uint32_t primary_slot(std::uint32_t pair) {
  return pair;
}
SPILLMC_HD_INLINE std::uint32_t extra_slot(std::uint32_t param, std::uint32_t sub,
                                           std::uint32_t iter) {
  return 0x01000000u | (param << 20) | (sub << 16) | (iter & 0xffffu);
}

struct DrawRng {
  std::uint64_t seed;
  std::uint64_t index;   // the draw's index within its stream
  std::uint32_t stream;  // 0 for a plain run; a sweep cell's index otherwise

  // Philox4x32-10 with key = seed and counter = (index, stream, slot).
  SPILLMC_HD_INLINE r123::Philox4x32::ctr_type raw(std::uint32_t slot) const {
    r123::Philox4x32 philox;
    const r123::Philox4x32::ctr_type ctr = {
        {static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), stream, slot}};
    const r123::Philox4x32::key_type key = {
        {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
    return philox(ctr, key);
  }

  // Two doubles in the open interval (0, 1), 52 random bits each.
  SPILLMC_HD_INLINE void uniform2(std::uint32_t slot, double& u0, double& u1) const {
    const auto r = raw(slot);
    u0 = to_open_unit((static_cast<std::uint64_t>(r.v[1]) << 32) | r.v[0]);
    u1 = to_open_unit((static_cast<std::uint64_t>(r.v[3]) << 32) | r.v[2]);
  }

  // (k + 1/2) 2^-52 for the top 52 bits k, exact in double (53 bits would
  // round the top value to 1.0): never 0 or 1, so inverse CDFs stay finite.
  SPILLMC_HD_INLINE static double to_open_unit(std::uint64_t x) {
    return (static_cast<double>(x >> 12) + 0.5) * 0x1.0p-52;
  }
};

}  // namespace spillmc
