// Shards, merging and verification (shard.hpp, docs/output.md "State").
#include "spillmc/shard.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "spillmc/errors.hpp"
#include "spillmc/run.hpp"

namespace spillmc {

namespace {

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

std::string hex_hash(std::uint64_t h) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016" PRIx64, h);
  return buf;
}

// Strict decimal uint64; false for anything else.
bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(ch - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

constexpr std::uint64_t kMaxShards = 1ull << 20;

}  // namespace

// ---------------------------------------------------------------------------

void flatten_tally(const Tally& t, std::uint64_t* c, double* m) {
  int k = 0;
  c[k++] = t.draws;
  c[k++] = t.valid;
  c[k++] = t.a2crit_undefined;
  for (int i = 0; i < kNumInvalid; ++i) c[k++] = t.invalid[i];
  for (int e = 0; e < kNumEvents; ++e) c[k++] = t.events[e];
  for (int r = 0; r < kNumRegimes; ++r) c[k++] = t.regime2[r];
  for (int r = 0; r < kNumRegimes; ++r) c[k++] = t.regime_up[r];
  for (int f = 0; f < kNumFields; ++f) {
    c[k++] = t.field[f].n;
    double* row = m + f * kStateMomentColumns;
    row[0] = t.field[f].mean;
    row[1] = t.field[f].mean_lo;
    row[2] = t.field[f].m2;
    row[3] = t.field[f].min;
    row[4] = t.field[f].max;
  }
}

Tally unflatten_tally(const std::uint64_t* c, const double* m) {
  Tally t;
  int k = 0;
  t.draws = c[k++];
  t.valid = c[k++];
  t.a2crit_undefined = c[k++];
  for (int i = 0; i < kNumInvalid; ++i) t.invalid[i] = c[k++];
  for (int e = 0; e < kNumEvents; ++e) t.events[e] = c[k++];
  for (int r = 0; r < kNumRegimes; ++r) t.regime2[r] = c[k++];
  for (int r = 0; r < kNumRegimes; ++r) t.regime_up[r] = c[k++];
  for (int f = 0; f < kNumFields; ++f) {
    t.field[f].n = c[k++];
    const double* row = m + f * kStateMomentColumns;
    t.field[f].mean = row[0];
    t.field[f].mean_lo = row[1];
    t.field[f].m2 = row[2];
    t.field[f].min = row[3];
    t.field[f].max = row[4];
  }
  return t;
}

std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {
std::uint64_t hash_u64_le(std::uint64_t v, std::uint64_t h) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  return fnv1a64(b, 8, h);
}
}  // namespace

std::string state_checksum(const std::vector<Tally>& segments) {
  std::uint64_t h = fnv1a64(nullptr, 0);
  std::uint64_t c[kStateCountColumns];
  double m[kNumFields * kStateMomentColumns];
  // All counts, then all moments: the order of the two datasets' bytes.
  for (const Tally& t : segments) {
    flatten_tally(t, c, m);
    for (std::uint64_t v : c) h = hash_u64_le(v, h);
  }
  for (const Tally& t : segments) {
    flatten_tally(t, c, m);
    for (double d : m) {
      std::uint64_t v;
      std::memcpy(&v, &d, sizeof v);
      h = hash_u64_le(v, h);
    }
  }
  return hex_hash(h);
}

std::string config_identity_hash(const Config& cfg) {
  Config c = cfg;
  c.output_path.clear();
  c.threads = 0;
  c.checkpoint_every = 0;  // checkpoints never change the numbers either
  c.checkpoint_path.clear();
  const std::string yaml = effective_yaml(c);
  return hex_hash(fnv1a64(yaml.data(), yaml.size()));
}

// ---------------------------------------------------------------------------

ShardSpec parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  ShardSpec s;
  if (slash == std::string::npos || !parse_u64(text.substr(0, slash), s.index) ||
      !parse_u64(text.substr(slash + 1), s.count))
    throw InputError("--shard: expected I/N with 0 <= I < N (0-based), got '" + text + "'");
  if (s.count == 0 || s.count > kMaxShards || s.index >= s.count)
    throw InputError("--shard " + text + ": need 0 <= I < N <= " + std::to_string(kMaxShards) +
                     " (I is 0-based)");
  s.set = true;
  return s;
}

ShardSpec shard_from_env() {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  ShardSpec s;
  if (id == nullptr || count == nullptr || *id == '\0' || *count == '\0') return s;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  const char* step = std::getenv("SLURM_ARRAY_TASK_STEP");
  std::uint64_t vid = 0, vcount = 0, vmin = 0, vstep = 1;
  if (!parse_u64(id, vid) || !parse_u64(count, vcount) ||
      (min != nullptr && *min != '\0' && !parse_u64(min, vmin)) ||
      (step != nullptr && *step != '\0' && !parse_u64(step, vstep)) || vstep == 0)
    throw InputError("SLURM_ARRAY_TASK_* variables are not numbers; give --shard I/N");
  if (vid < vmin || (vid - vmin) % vstep != 0 || (vid - vmin) / vstep >= vcount ||
      vcount > kMaxShards)
    throw InputError("SLURM_ARRAY_TASK_ID " + std::to_string(vid) + " does not map to a shard of " +
                     std::to_string(vcount) + " (the array must be a range such as --array=0-" +
                     std::to_string(vcount ? vcount - 1 : 0) + "); give --shard I/N");
  s.set = true;
  s.index = (vid - vmin) / vstep;
  s.count = vcount;
  return s;
}

std::pair<std::uint64_t, std::uint64_t> shard_segments(std::uint64_t total_segments,
                                                       std::uint64_t index, std::uint64_t count) {
  if (count == 0) return {0, 0};
  return {index * total_segments / count, (index + 1) * total_segments / count};
}

std::string shard_output_path(const std::string& path, std::uint64_t index, std::uint64_t count) {
  const std::size_t slash = path.rfind('/');
  const std::size_t dot = path.rfind('.');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
  char tag[64];
  std::snprintf(tag, sizeof tag, ".shard-%04" PRIu64 "-of-%04" PRIu64, index, count);
  if (!has_ext) return path + tag;
  return path.substr(0, dot) + tag + path.substr(dot);
}

// ---------------------------------------------------------------------------

namespace {

bool same_double(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

bool same_stats(const SummaryStats& a, const SummaryStats& b) {
  return a.count == b.count && same_double(a.mean, b.mean) && same_double(a.std, b.std) &&
         same_double(a.sem, b.sem) && same_double(a.min, b.min) && same_double(a.max, b.max);
}

}  // namespace

std::vector<std::string> verify_result(const ResultFile& r) {
  std::vector<std::string> p;
  const RunInfo& info = r.info;
  const bool is_shard = info.kind == kKindShard;
  if (info.kind != kKindResult && !is_shard)
    p.push_back("attribute kind is '" + info.kind + "', expected 'result' or 'shard'");
  if (is_shard ? (info.shard_count == 0 || info.shard_index >= info.shard_count)
               : (info.shard_index != 0 || info.shard_count != 1))
    p.push_back("shard_index " + std::to_string(info.shard_index) + " / shard_count " +
                std::to_string(info.shard_count) + " do not fit kind '" + info.kind + "'");
  if (info.block_draws != kBlockDraws)
    p.push_back("block_draws is " + std::to_string(info.block_draws) + ", expected " +
                std::to_string(kBlockDraws));
  if (info.segment_blocks != kSegmentBlocks)
    p.push_back("/state segment_blocks is " + std::to_string(info.segment_blocks) + ", expected " +
                std::to_string(kSegmentBlocks));

  // The run's geometry (a sweep has cells of draws_per_cell draws) from its config.
  std::unique_ptr<RunPlan> plan;
  bool sweep = false;
  try {
    const Config cfg = parse_config_text(info.config_yaml, "attribute 'config'");
    sweep = !cfg.sweep.axes.empty();
    plan = std::make_unique<RunPlan>(make_run_plan(cfg));
  } catch (const Error&) {
    // reported with the config checks below
  }
  const auto seg_draws = [&](std::uint64_t j) {
    return plan ? plan_segment_draws(*plan, j) : segment_draws(info.draws_requested, j);
  };
  // The segment range the kind promises.
  const std::uint64_t total = plan ? plan->total_segments() : segment_count(info.draws_requested);
  if (r.state.segment_count_total != total)
    p.push_back("/state segment_count_total is " + std::to_string(r.state.segment_count_total) +
                ", but " + std::to_string(info.draws_requested) + " draws have " +
                std::to_string(total) + " segments");
  const auto want = is_shard ? shard_segments(total, info.shard_index, info.shard_count)
                             : std::pair<std::uint64_t, std::uint64_t>{0, total};
  if (r.state.segment_first != want.first || r.segment_end != want.second)
    p.push_back("/state covers segments [" + std::to_string(r.state.segment_first) + ", " +
                std::to_string(r.segment_end) + "), expected [" + std::to_string(want.first) +
                ", " + std::to_string(want.second) + ")");
  if (r.segment_end < r.state.segment_first ||
      r.state.segments.size() != r.segment_end - r.state.segment_first)
    p.push_back("/state holds " + std::to_string(r.state.segments.size()) +
                " segments, not segment_end - segment_first");
  if (!r.file_checksum_problem.empty()) p.push_back(r.file_checksum_problem);
  if (r.state_checksum != r.state_checksum_data)
    p.push_back("/state checksum mismatch: stored " + r.state_checksum + ", data gives " +
                r.state_checksum_data + " (the state is corrupt)");

  // Each segment: its draw count and its own counts.
  int reported = 0;
  for (std::size_t j = 0; j < r.state.segments.size() && reported < 5; ++j) {
    const Tally& t = r.state.segments[j];
    const std::uint64_t seg = r.state.segment_first + j;
    std::uint64_t invalid = 0, r2 = 0, ru = 0;
    for (int i = 0; i < kNumInvalid; ++i) invalid += t.invalid[i];
    for (int k = 0; k < kNumRegimes; ++k) r2 += t.regime2[k], ru += t.regime_up[k];
    bool ok = t.draws == seg_draws(seg) && t.valid + invalid == t.draws && r2 == t.valid &&
              ru == t.valid && t.a2crit_undefined <= t.valid;
    for (int f = 0; f < kNumFields; ++f)
      ok = ok && t.field[f].n == (f == F_A2_crit ? t.valid - t.a2crit_undefined : t.valid);
    if (!ok) {
      p.push_back("/state segment " + std::to_string(seg) + ": counts do not add up (" +
                  std::to_string(t.draws) + " draws, expected " + std::to_string(seg_draws(seg)) +
                  ")");
      ++reported;
    }
  }

  // The stored statistics are exactly what the fold of the state gives.
  const Tally t = fold_segments(r.state.segments);
  if (r.draws_valid != t.valid || r.draws_invalid != t.draws - t.valid)
    p.push_back("draws_valid " + std::to_string(r.draws_valid) + " + draws_invalid " +
                std::to_string(r.draws_invalid) + " do not match /state (" +
                std::to_string(t.valid) + " valid of " + std::to_string(t.draws) + ")");
  if (!is_shard && t.draws != info.draws_requested)
    p.push_back("/state holds " + std::to_string(t.draws) + " draws, draws_requested is " +
                std::to_string(info.draws_requested));
  for (int f = 0; f < kNumFields; ++f)
    if (!same_stats(summarize(t.field[f]), r.summary[f]))
      p.push_back(std::string("/summary/") + kFieldNames[f] + " differs from the fold of /state");
  if (r.a2crit_undefined != t.a2crit_undefined)
    p.push_back("/undefined/A2_crit differs from the fold of /state");
  for (int e = 0; e < kNumEvents; ++e) {
    const Proportion w = wilson95(t.events[e], t.valid);
    const Proportion& g = r.events[e];
    if (w.count != g.count || !same_double(w.probability, g.probability) ||
        !same_double(w.ci95_low, g.ci95_low) || !same_double(w.ci95_high, g.ci95_high))
      p.push_back(std::string("/events/") + kEventNames[e] + " differs from the fold of /state");
  }
  for (int k = 0; k < kNumRegimes; ++k) {
    if (r.regime2[k] < 0 || static_cast<std::uint64_t>(r.regime2[k]) != t.regime2[k] ||
        r.regime_up[k] < 0 || static_cast<std::uint64_t>(r.regime_up[k]) != t.regime_up[k]) {
      p.push_back("/regimes differ from the fold of /state");
      break;
    }
  }
  for (int i = 0; i < kNumInvalid; ++i)
    if (r.invalid[i] != t.invalid[i])
      p.push_back(std::string("/invalid/") + kInvalidNames[i] + " differs from the fold of /state");

  // A sweep's grid is the per-cell fold of /state (a shard: of its own segments,
  // the other cells empty). Checked on what read_result reads of /sweep.
  if (plan && sweep && r.segment_end <= plan->total_segments() &&
      r.state.segment_first + r.state.segments.size() <= plan->total_segments()) {
    std::vector<Tally> cells;
    std::vector<Extra> no_extras;
    fold_cells(*plan, r.state.segments, {}, r.state.segment_first, cells, no_extras);
    const ResultFile::Sweep& s = r.sweep;
    const std::size_t n = cells.size();
    if (s.valid.size() != n || s.p_leader_gains.size() != n || s.p_upgrade_pays.size() != n ||
        s.mean_upgrade_gain.size() != n) {
      p.push_back("/sweep does not hold the " + std::to_string(n) + " cells of the stored config");
    } else {
      for (std::size_t c = 0; c < n; ++c) {
        const Tally& k = cells[c];
        if (s.valid[c] != k.valid ||
            !same_double(s.p_leader_gains[c],
                         wilson95(k.events[E_leader_gains], k.valid).probability) ||
            !same_double(s.p_upgrade_pays[c],
                         wilson95(k.events[E_upgrade_gain_positive], k.valid).probability) ||
            !same_double(s.mean_upgrade_gain[c], summarize(k.field[F_upgrade_gain]).mean)) {
          p.push_back("/sweep cell " + std::to_string(c) + " differs from the fold of /state");
          break;
        }
      }
    }
  }

  // /state/hist fits the config and counts what the segments hold, and the
  // histograms under /summary are exactly its counts.
  if (plan) {
    const AnalysisSpec& a = plan->analysis;
    const std::string hist = hist_problem(a, r.state.hist, r.state.segments, nullptr);
    if (!hist.empty()) p.push_back("/state/hist " + hist);
    std::size_t off = 0, bad = 0;
    for (std::size_t h = 0; h < a.hist_fields.size() && hist.empty(); ++h) {
      const auto bins = static_cast<std::size_t>(a.hist_axes[h].bins);
      const auto q =
          std::find_if(r.quantiles.begin(), r.quantiles.end(),
                       [&](const ResultFile::Quantiles& x) { return x.field == a.hist_fields[h]; });
      const bool same =
          r.state.hist.empty()
              ? q == r.quantiles.end()
              : q != r.quantiles.end() && q->counts.size() == bins &&
                    q->underflow == r.state.hist[off] &&
                    q->overflow == r.state.hist[off + bins + 1] &&
                    std::equal(q->counts.begin(), q->counts.end(),
                               r.state.hist.begin() + static_cast<std::ptrdiff_t>(off + 1));
      if (!same) {
        ++bad;
        p.push_back(std::string("/summary/") + kFieldNames[a.hist_fields[h]] +
                    "/histogram differs from /state/hist");
      }
      off += bins + 2;
    }
    const std::size_t histograms = r.state.hist.empty() ? 0 : a.hist_fields.size();
    if (hist.empty() && bad == 0 && r.quantiles.size() != histograms)
      p.push_back("/summary holds histograms of fields the config does not histogram");
  }

  // The stored config is the one the hash and the attributes describe.
  try {
    const Config cfg = parse_config_text(info.config_yaml, "attribute 'config'");
    const std::string h = config_identity_hash(cfg);
    if (h != info.config_hash)
      p.push_back("config_hash is " + info.config_hash + ", the stored config gives " + h);
    if (cfg.seed != info.seed || (plan && plan->total_draws() != info.draws_requested) ||
        std::string(to_string(cfg.model)) != info.model)
      p.push_back("seed, draws_requested or model differ from the stored config");
  } catch (const Error& e) {
    p.push_back(std::string("the stored config does not parse: ") + e.what());
  }
  return p;
}

// ---------------------------------------------------------------------------

Result merge_shards(const std::vector<std::string>& paths, const std::string& output_path) {
  if (paths.empty()) throw InputError("merge: no shard files given");
  std::vector<ResultFile> files;
  files.reserve(paths.size());
  for (const std::string& path : paths) {
    files.push_back(read_result(path));  // OutputError (exit 3) naming the file
    const ResultFile& f = files.back();
    if (f.info.kind != kKindShard)
      throw InputError(quoted(path) + " is not a shard (kind '" + f.info.kind + "')");
    const std::vector<std::string> problems = verify_result(f);
    if (!problems.empty())
      throw OutputError(quoted(path) + " is corrupt or inconsistent: " + problems.front() +
                        (problems.size() > 1
                             ? " (and " + std::to_string(problems.size() - 1) + " more problems)"
                             : std::string()));
  }

  const ResultFile& ref = files.front();
  for (std::size_t i = 1; i < files.size(); ++i) {
    const ResultFile& f = files[i];
    auto differ = [&](const char* what, const std::string& a, const std::string& b) {
      if (a != b)
        throw InputError(quoted(f.path) + " does not belong with " + quoted(ref.path) + ": " +
                         what + " " + b + " vs " + a);
    };
    // The named fields first, so the message says what differs; the config
    // hash (anything else in the config) last.
    differ("seed", std::to_string(ref.info.seed), std::to_string(f.info.seed));
    differ("model", ref.info.model, f.info.model);
    differ("draws_requested", std::to_string(ref.info.draws_requested),
           std::to_string(f.info.draws_requested));
    differ("program_version", ref.info.program_version, f.info.program_version);
    differ("format_version", std::to_string(ref.format_version), std::to_string(f.format_version));
    differ("shard_count", std::to_string(ref.info.shard_count), std::to_string(f.info.shard_count));
    differ("backend", ref.info.backend, f.info.backend);
    differ("config_hash", ref.info.config_hash, f.info.config_hash);
    if (f.info.git_commit != ref.info.git_commit)
      spdlog::warn("merge: {} was built from {}, {} from {}", quoted(f.path), f.info.git_commit,
                   quoted(ref.path), ref.info.git_commit);
  }

  const std::uint64_t n = ref.info.shard_count;
  std::vector<const ResultFile*> by_index(static_cast<std::size_t>(n), nullptr);
  for (const ResultFile& f : files) {
    const ResultFile*& slot = by_index[static_cast<std::size_t>(f.info.shard_index)];
    if (slot != nullptr)
      throw InputError(quoted(f.path) + " repeats shard " + std::to_string(f.info.shard_index) +
                       "/" + std::to_string(n) + " of " + quoted(slot->path));
    slot = &f;
  }
  std::string missing;
  std::uint64_t nmissing = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (by_index[static_cast<std::size_t>(i)] != nullptr) continue;
    if (++nmissing <= 10) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
  }
  if (nmissing > 0)
    throw InputError("merge: " + std::to_string(nmissing) + " of " + std::to_string(n) +
                     " shards missing (0-based): " + missing + (nmissing > 10 ? ", ..." : ""));

  Config cfg = parse_config_text(ref.info.config_yaml, quoted(ref.path) + " attribute 'config'");
  const RunPlan plan = make_run_plan(cfg);
  Result res;
  res.state.segment_first = 0;
  res.state.segment_count_total = ref.state.segment_count_total;
  double wall = 0.0;
  std::string device = ref.info.device;
  for (const ResultFile* f : by_index) {
    for (const Tally& t : f->state.segments) res.state.segments.push_back(t);
    try {
      for (Extra& x : extras_from_bytes(plan.analysis, f->state_extra, f->state.segments.size()))
        res.state.extras.push_back(std::move(x));
    } catch (const InputError& e) {
      throw OutputError(quoted(f->path) + ": " + e.what());
    }
    add_counts(res.state.hist, f->state.hist);  // verify_result checked them
    wall += f->info.wall_seconds;
    if (f->info.device != ref.info.device) device = "several (merged from shards)";
  }
  res.tally = fold_segments(res.state.segments);
  fill_analysis(cfg, plan, res);

  RunInfo& info = res.info;
  info = ref.info;
  info.kind = kKindResult;
  info.shard_index = 0;
  info.shard_count = 1;
  cfg.output_path = output_path;
  info.config_yaml = effective_yaml(cfg);
  info.config_hash = config_identity_hash(cfg);
  info.device = device;
  info.created = utc_now_iso8601();
  info.wall_seconds = wall;
  return res;
}

}  // namespace spillmc
