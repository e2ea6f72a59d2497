// One Monte Carlo draw: sample the parameters of draw i, evaluate the model.
#pragma once

#include <cstdint>

#include "spillmc/distributions.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/model.hpp"
#include "spillmc/rng.hpp"

namespace spillmc {

// Sampling slots: the six inputs as the config gives them.
enum Slot : int { S_a, S_b, S_c, S_A1, S_A2, S_A2p, kNumSlots };

// Everything a backend needs to evaluate any draw; trivially copyable so that
// kernels take it by value or from constant memory.
struct DrawSpec {
  Dist dist[kNumSlots];
  bool a2_is_gap = false;     // slot S_A2 holds A2_gap: A2 = A1 + gap
  bool a2p_is_theta = false;  // slot S_A2p holds theta: A2p = A1 + theta (A2 - A1)
  ModelMode mode = ModelMode::constrained;
  std::uint64_t seed = 0;
  std::uint32_t stream = 0;
};

// The six slot values of draw `index` as the config gives them (A2_gap and
// theta not yet turned into A2 and A2p). Sobol pick-freeze designs mix slots
// of two draws, so this is separate from params_from_slots.
SPILLMC_HD_INLINE void sample_slots(const DrawSpec& spec, std::uint64_t index,
                                    double x[kNumSlots]) {
  const DrawRng rng{spec.seed, index, spec.stream};
  double u[kNumSlots];
  for (int pair = 0; pair < kNumSlots / 2; ++pair) {
    const bool needed = spec.dist[2 * pair].kind != DistKind::fixed ||
                        spec.dist[2 * pair + 1].kind != DistKind::fixed;
    if (needed) {
      rng.uniform2(primary_slot(pair), u[2 * pair], u[2 * pair + 1]);
    } else {
      u[2 * pair] = u[2 * pair + 1] = 0.5;
    }
  }
  for (int s = 0; s < kNumSlots; ++s) x[s] = sample(spec.dist[s], u[s], rng, s);
}

// Model parameters from slot values: derives A2 from A2_gap, A2p from theta.
SPILLMC_HD_INLINE Params params_from_slots(const DrawSpec& spec, const double x[kNumSlots]) {
  Params p{x[S_a], x[S_b], x[S_c], x[S_A1], x[S_A2], x[S_A2p]};
  if (spec.a2_is_gap) p.A2 = p.A1 + x[S_A2];
  if (spec.a2p_is_theta) p.A2p = p.A1 + x[S_A2p] * (p.A2 - p.A1);
  return p;
}

SPILLMC_HD_INLINE Params sample_params(const DrawSpec& spec, std::uint64_t index) {
  double x[kNumSlots];
  sample_slots(spec, index, x);
  return params_from_slots(spec, x);
}

// Evaluates given parameters. Returns -1 when valid (o filled), else the
// InvalidReason (o.v holds at least the parameters).
SPILLMC_HD_INLINE int evaluate_params(const Params& p, ModelMode mode, Outcome& o) {
  const int bad = check_params(p);
  if (bad >= 0) {
    o.v[F_a] = p.a, o.v[F_b] = p.b, o.v[F_c] = p.c;
    o.v[F_A1] = p.A1, o.v[F_A2] = p.A2, o.v[F_A2p] = p.A2p;
    return bad;
  }
  evaluate_model(p, mode, o);
  return outputs_finite(o) ? -1 : I_nonfinite_output;
}

// Samples and evaluates draw `index`. Returns -1 when valid (o filled), else
// the InvalidReason (o.v holds at least the parameters).
SPILLMC_HD_INLINE int evaluate_draw(const DrawSpec& spec, std::uint64_t index, Outcome& o) {
  return evaluate_params(sample_params(spec, index), spec.mode, o);
}

}  // namespace spillmc
