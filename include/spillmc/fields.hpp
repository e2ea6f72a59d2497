// Names and indices of everything a draw produces. One table, used by the
// model, the accumulators, the HDF5 writer and the inspector.
#pragma once

#include <cstdint>

namespace spillmc {

// Numeric fields summarised with count/mean/std/sem/min/max. The order is
// part of the tally layout (kernels index by it); names match model.md.
enum Field : int {
  // sampled (or derived) parameters
  F_a,
  F_b,
  F_c,
  F_A1,
  F_A2,
  F_A2p,
  // stage 1
  F_q11,
  F_p11,
  F_pi11,
  // stage 2
  F_q12,
  F_q22,
  F_p12,
  F_p22,
  F_pi12,
  F_pi22,
  // upgrade
  F_q12_up,
  F_q22_up,
  F_p12_up,
  F_p22_up,
  F_pi12_up,
  F_pi22_up,
  F_upgrade_gain,
  F_leader_loss_up,
  F_A2p_entry,
  // Last, because it alone can be undefined (d + A1 <= 0): the fields before
  // it are present in every valid draw, so loops over them need no branch.
  F_A2_crit,
  kNumFields
};
constexpr int kNumParams = 6;                // F_a .. F_A2p
constexpr int kNumAlwaysFields = F_A2_crit;  // fields defined in every valid draw

inline constexpr const char* kFieldNames[kNumFields] = {"a",
                                                        "b",
                                                        "c",
                                                        "A1",
                                                        "A2",
                                                        "A2p",
                                                        "q11",
                                                        "p11",
                                                        "pi11",
                                                        "q12",
                                                        "q22",
                                                        "p12",
                                                        "p22",
                                                        "pi12",
                                                        "pi22",
                                                        "q12_up",
                                                        "q22_up",
                                                        "p12_up",
                                                        "p22_up",
                                                        "pi12_up",
                                                        "pi22_up",
                                                        "upgrade_gain",
                                                        "leader_loss_up",
                                                        "A2p_entry",
                                                        "A2_crit"};

enum Event : int {
  E_leader_gains,           // pi12 >= pi11
  E_spillover_condition,    // 3 A1 > 2 A2
  E_follower_active,        // q22 > 0
  E_follower_active_up,     // q22_up > 0
  E_upgrade_gain_positive,  // upgrade_gain > 0
  kNumEvents
};
inline constexpr const char* kEventNames[kNumEvents] = {"leader_gains", "spillover_condition",
                                                        "follower_active", "follower_active_up",
                                                        "upgrade_gain_positive"};

// Stackelberg regimes of model.md's table.
enum Regime : int {
  R_both_active = 0,
  R_limit_output = 1,
  R_leader_monopoly = 2,
  R_follower_monopoly = 3,
  R_nobody = 4,
  kNumRegimes
};
inline constexpr const char* kRegimeLabels[kNumRegimes] = {
    "both_active", "limit_output", "leader_monopoly", "follower_monopoly", "nobody_produces"};

// Why a draw was not evaluated. Checked in this order; a draw counts once.
enum InvalidReason : int {
  I_nonfinite_parameter,  // a parameter is NaN, infinite or beyond kMaxMagnitude
  I_b_nonpositive,        // demand slope b <= 0
  I_nonfinite_output,     // parameters in range but an output is not (model.hpp)
  kNumInvalid
};
inline constexpr const char* kInvalidNames[kNumInvalid] = {"nonfinite_parameter", "b_nonpositive",
                                                           "nonfinite_output"};

enum class ModelMode : std::uint32_t { constrained = 0, paper = 1 };

}  // namespace spillmc
