// The run configuration: parsed from YAML, overridden from the command line,
// validated with messages that name the key and its FILE:LINE:COLUMN.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "spillmc/draw.hpp"
#include "spillmc/paths.hpp"

namespace spillmc {

enum class BackendChoice { automatic, cpu, cuda };

// sweep: a grid of 1 to 3 axes, each fixing one parameter per cell (issue 3).
struct SweepAxis {
  std::string name;     // a, b, c, A1, A2, A2_gap, A2p or theta
  std::string spacing;  // linspace | logspace | values (as written, for the record)
  std::vector<double> values;
};
struct SweepConfig {
  std::vector<SweepAxis> axes;  // empty: no sweep
  std::uint64_t draws_per_cell = 0;
  std::uint64_t cells() const {
    std::uint64_t n = axes.empty() ? 0 : 1;
    for (const auto& a : axes) n *= a.values.size();
    return n;
  }
};

// histograms: per-field histograms and the quantiles read from them (issue 3).
constexpr std::uint64_t kMaxSweepCells = 1ull << 24;
constexpr std::uint64_t kMaxHistogramBins = 1ull << 20;

struct HistogramConfig {
  bool enabled = true;
  bool explicitly_set = false;  // the config has a histograms: key
  int bins = 1000;
  std::vector<int> fields;  // Field indices; the outputs (not the parameters) when not given
  // Explicit ranges (field, lo, hi); the other fields get a pilot range.
  std::vector<std::pair<int, std::pair<double, double>>> ranges;
};

// output.draws: per-draw output (issue 3).
enum class DrawSelect { none, all, first, every };
struct DrawsOutputConfig {
  DrawSelect select = DrawSelect::none;
  std::uint64_t n = 0;      // first: N / every: K
  std::vector<int> fields;  // Field indices; defaults when not given
  bool compress = false;    // shuffle + deflate
};

// conditions: events (optionally negated) to restrict the summary to (issue 4).
struct Condition {
  int event = 0;
  bool negated = false;  // "not_<event>"
};

// correlation: Gaussian copula over sampled slots (issue 4, docs/config.md
// "Correlated inputs"). Filled by read_correlation and check_correlation.
struct CorrelationConfig {
  bool enabled = false;  // some pair has r != 0
  // When enabled: the correlation matrix over DrawSpec slots (unit diagonal,
  // zero rows for unlisted slots), positive definite. All zero otherwise.
  double r[kNumSlots][kNumSlots] = {};
};

// sensitivity: Sobol indices (issue 4). Filled by read_sensitivity.
struct SensitivityConfig {
  bool enabled = false;
  std::vector<std::string> outputs;  // field or event names
  std::uint64_t base_draws = 0;
};

// paths: the OEM's upgrade routes (issue 4, docs/paths.md). Filled by read_paths.
struct PathConfig {
  std::string name;  // unique, [A-Za-z_][A-Za-z0-9_]*
  // theta_failure defaults to fixed 0: no upgrade when the path fails.
  Dist cost, p_success, theta_success, theta_failure;
};

struct Config {
  std::uint64_t draws = 1000000;
  std::uint64_t seed = 1;
  ModelMode model = ModelMode::constrained;
  BackendChoice backend = BackendChoice::automatic;
  int threads = 0;  // 0: all cores
  // Slots a, b, c, A1, then A2 or A2_gap, then A2p or theta (see DrawSpec).
  Dist dist[kNumSlots];
  bool a2_is_gap = false;
  bool a2p_is_theta = false;
  std::string output_path = "spillmc.h5";
  // checkpoint: {every: SECONDS, path: FILE}. 0: no checkpoints. An empty
  // path means output_path + ".ckpt" (checkpoint_file()).
  double checkpoint_every = 0.0;
  std::string checkpoint_path;
  std::uint32_t stream = 0;  // random stream; sweep cell k uses stream k
  SweepConfig sweep;
  HistogramConfig histograms;
  DrawsOutputConfig draws_output;
  std::vector<Condition> conditions;
  CorrelationConfig correlation;
  SensitivityConfig sensitivity;
  std::vector<PathConfig> paths;
  std::string source;  // the file the config came from (for messages)

  DrawSpec draw_spec() const;
  std::string checkpoint_file() const {
    return checkpoint_path.empty() ? output_path + ".ckpt" : checkpoint_path;
  }
};

// A --set KEY=VALUE override: KEY is a dotted path (parameters.a.low), VALUE a
// YAML scalar or flow node ({dist: uniform, low: 1, high: 2}).
struct Override {
  Override(std::string k, std::string v, std::string o = {})
      : key(std::move(k)), value(std::move(v)), origin(std::move(o)) {}
  std::string key, value;
  std::string origin;  // how messages name it; empty: "--set KEY" (else e.g. "--draws")
};

// Reads, overrides and validates. Throws InputError naming the field (and
// FILE:LINE:COLUMN for values from the file, "--set KEY" for overrides).
Config load_config(const std::string& path, const std::vector<Override>& overrides = {});
// load_config for text already read (`source_name` names it in messages).
Config load_config_text(const std::string& yaml_text, const std::string& source_name,
                        const std::vector<Override>& overrides = {});
// The same without the memory check: for configs stored in result files, whose runs passed it.
Config parse_config_text(const std::string& yaml_text, const std::string& source_name,
                         const std::vector<Override>& overrides = {});

// Parses "KEY=VALUE"; throws InputError when there is no '='.
Override parse_override(const std::string& arg);

// The effective config as YAML, every key spelt out (defaults included); what
// `validate` prints and what the output file stores. Parsing it gives back an
// equal Config.
std::string effective_yaml(const Config& cfg);

// `s` as a YAML double-quoted scalar that reads back as exactly `s`: never a
// null, map or comment; quotes and backslashes escaped, control bytes as \xNN.
std::string yaml_quoted(const std::string& s);

// The paths of cfg as kernels take them, distributions prepared (at most kMaxPaths).
PathsSpec paths_spec(const Config& cfg);

const char* to_string(ModelMode m);
const char* to_string(BackendChoice b);
const char* to_string(DistKind k);

}  // namespace spillmc
