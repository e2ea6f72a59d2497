// YAML config: load, apply --set overrides to the tree, validate into a Config.
//
// Every error names the key path and where the offending value came from:
// FILE:LINE:COLUMN (1-based) for the file, "--set KEY" for an override. The
// checks run on the YAML tree after overrides, so a value is judged the same
// way whichever of the two gave it.
#include "spillmc/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "spillmc/errors.hpp"
#include "spillmc/sobol.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

const char* to_string(ModelMode m) {
  switch (m) {
    case ModelMode::constrained:
      return "constrained";
    case ModelMode::paper:
      return "paper";
  }
  return "?";
}

const char* to_string(BackendChoice b) {
  switch (b) {
    case BackendChoice::automatic:
      return "auto";
    case BackendChoice::cpu:
      return "cpu";
    case BackendChoice::cuda:
      return "cuda";
  }
  return "?";
}

const char* to_string(DistKind k) {
  switch (k) {
    case DistKind::fixed:
      return "fixed";
    case DistKind::uniform:
      return "uniform";
    case DistKind::normal:
      return "normal";
    case DistKind::truncnormal:
      return "truncnormal";
    case DistKind::lognormal:
      return "lognormal";
    case DistKind::triangular:
      return "triangular";
    case DistKind::beta:
      return "beta";
  }
  return "?";
}

DrawSpec Config::draw_spec() const {
  DrawSpec spec;
  for (int s = 0; s < kNumSlots; ++s) spec.dist[s] = prepared(dist[s]);
  spec.a2_is_gap = a2_is_gap;
  spec.a2p_is_theta = a2p_is_theta;
  spec.mode = model;
  spec.seed = seed;
  spec.stream = stream;
  // Validated positive definite when read; a hand-made Config might not be.
  if (correlation.enabled && !set_copula(spec, correlation.r)) {
    throw InputError("correlation: the matrix is not positive definite");
  }
  return spec;
}

namespace {

// Where each document of a YAML stream starts, parsed as events only and stopping at the
// third: yaml-cpp 0.7's LoadAll never returns, and allocates without end, on text such as
// `&a, b` (a ',' the parser never consumes: upstream issue #1040, fixed in 0.8). Its parser
// then starts document after document at that token, which is how this finds it.
struct DocumentStarts : YAML::EventHandler {
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

struct YamlDocument {
  YAML::Node root;
  std::optional<YAML::Mark> another;  // where a second document starts, if there is one
};

// The first document of `text`, and whether another follows. Throws YAML::ParserException
// for a syntax error, including the text that stalls LoadAll.
YamlDocument load_yaml_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts docs;
  while (docs.starts.size() < 3 && parser.HandleNextDocument(docs)) {
    const auto n = docs.starts.size();
    if (n >= 2 && docs.starts[n - 1].pos == docs.starts[n - 2].pos) {
      const auto pos = static_cast<std::size_t>(docs.starts[n - 1].pos);
      throw YAML::ParserException(docs.starts[n - 1],
                                  pos < text.size() ? fmt::format("unexpected '{}'", text[pos])
                                                    : std::string("unexpected end"));
    }
  }
  YamlDocument doc{YAML::Load(text), std::nullopt};
  if (docs.starts.size() > 1) doc.another = docs.starts[1];
  return doc;
}

// ---- small text helpers -----------------------------------------------------

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// `path` lies below `prefix`: a key in it (prefix.key) or an element of a
// list it holds (prefix[0]).
bool has_prefix(const std::string& path, const std::string& prefix) {
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         (path[prefix.size()] == '.' || path[prefix.size()] == '[');
}

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Shortest text that reads back as the same double; YAML spellings for the
// non-finite values so that messages and effective_yaml stay valid YAML.
std::string format_number(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  return fmt::format("{}", v);
}

// Damerau (optimal string alignment) distance, case-insensitive: a swapped
// pair of letters ("drwas") or a wrong case ("a1") counts as one slip or none.
std::size_t edit_distance(const std::string& x, const std::string& y) {
  const std::size_t n = x.size(), m = y.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  auto lower = [](char ch) { return std::tolower(static_cast<unsigned char>(ch)); };
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = lower(x[i - 1]) == lower(y[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(x[i - 1]) == lower(y[j - 2]) &&
          lower(x[i - 2]) == lower(y[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// " (did you mean 'x'?)" for the closest candidate, or "" when none is close.
// A one-letter name is only suggested for a case slip: 'd' is not a typo of 'a'.
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  std::size_t best = SIZE_MAX;
  std::string pick;
  for (const auto& c : candidates) {
    const std::size_t dist = edit_distance(word, c);
    if (dist <= 2 && dist < c.size() && dist < best) best = dist, pick = c;
  }
  return pick.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", pick);
}

// How a node reads in a message: its text, or what kind of thing it is.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", node.Scalar());
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

std::string trim(std::string_view s) {
  const auto* ws = " \t\r\n";
  const std::size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const std::size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

// ---- numbers ------------------------------------------------------------------

enum class NumStatus { ok, not_number, out_of_range };

// YAML 1.2 core-schema floats and integers (decimal only) plus .inf/.nan.
// Quoted scalars are read the same way, so "1e7" works as well as 1e7.
NumStatus parse_number(const std::string& text, double& out) {
  const std::string s = trim(text);
  std::size_t i = 0;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) negative = s[0] == '-', i = 1;
  const std::string_view body(s.data() + i, s.size() - i);
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    out = negative ? -HUGE_VAL : HUGE_VAL;
    return NumStatus::ok;
  }
  if (i == 0 && (body == ".nan" || body == ".NaN" || body == ".NAN")) {
    out = std::nan("");
    return NumStatus::ok;
  }
  // Check the shape ourselves: from_chars also takes "inf", "nan", hex, ...
  std::size_t j = 0, digits = 0;
  auto is_digit = [&](std::size_t k) {
    return k < body.size() && std::isdigit(static_cast<unsigned char>(body[k]));
  };
  while (is_digit(j)) ++j, ++digits;
  if (j < body.size() && body[j] == '.') {
    ++j;
    while (is_digit(j)) ++j, ++digits;
  }
  if (digits == 0) return NumStatus::not_number;
  if (j < body.size() && (body[j] == 'e' || body[j] == 'E')) {
    ++j;
    if (j < body.size() && (body[j] == '+' || body[j] == '-')) ++j;
    if (!is_digit(j)) return NumStatus::not_number;
    while (is_digit(j)) ++j;
  }
  if (j != body.size()) return NumStatus::not_number;
  // from_chars rejects a leading '+', accepts '-': start after '+' only.
  const char* first = s.data() + (negative ? 0 : i);
  double v = 0;
  const auto res = std::from_chars(first, s.data() + s.size(), v);
  if (res.ec == std::errc::result_out_of_range) return NumStatus::out_of_range;
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return NumStatus::not_number;
  out = v;
  return NumStatus::ok;
}

struct Integer {
  bool negative = false;
  std::uint64_t magnitude = 0;
};

// too_large: beyond 2^64-1 in digits; inexact: float form beyond 2^53.
enum class IntStatus { ok, not_number, not_finite, not_whole, too_large, inexact };

// Integers written as digits (exact up to 2^64-1) or in float form such as
// 1e7; the float form must be whole and at most 2^53, beyond which the
// written digits and the double that holds them may differ.
IntStatus parse_integer(const std::string& text, Integer& out) {
  const std::string s = trim(text);
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) i = 1;
  const bool all_digits =
      i < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(), [](char ch) {
        return std::isdigit(static_cast<unsigned char>(ch));
      });
  if (all_digits) {
    std::uint64_t mag = 0;
    const auto res = std::from_chars(s.data() + i, s.data() + s.size(), mag);
    if (res.ec == std::errc::result_out_of_range) return IntStatus::too_large;
    out.negative = negative && mag != 0;
    out.magnitude = mag;
    return IntStatus::ok;
  }
  double v = 0;
  const NumStatus st = parse_number(s, v);
  if (st == NumStatus::not_number) return IntStatus::not_number;
  if (st == NumStatus::out_of_range) return IntStatus::inexact;
  if (!std::isfinite(v)) return IntStatus::not_finite;
  if (v != std::floor(v)) return IntStatus::not_whole;
  if (std::fabs(v) > 9007199254740992.0) return IntStatus::inexact;
  out.negative = v < 0;
  out.magnitude = static_cast<std::uint64_t>(std::fabs(v));
  return IntStatus::ok;
}

// ---- the key vocabulary ----------------------------------------------------------

const std::vector<std::string> kTopKeys = {"draws",       "seed",        "model",      "backend",
                                           "threads",     "parameters",  "output",     "checkpoint",
                                           "stream",      "sweep",       "histograms", "conditions",
                                           "correlation", "sensitivity", "paths"};
const std::vector<std::string> kParamKeys = {"a", "b", "c", "A1", "A2", "A2_gap", "A2p", "theta"};
const std::vector<std::string> kOutputKeys = {"path", "draws", "fields", "compression"};
const std::vector<std::string> kCheckpointKeys = {"every", "path"};
const std::vector<std::string> kModelNames = {"constrained", "paper"};
const std::vector<std::string> kBackendNames = {"auto", "cpu", "cuda"};

// ---- limits (docs/config.md, "Limits") -------------------------------------------

// The config file: a config is a few KiB; more is a wrong path (/dev/zero).
constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;

// CPU threads. More threads than blocks of draws, or than the OpenMP runtime
// can start, is an error, not a request: libgomp fails or crashes creating
// tens of thousands of threads.
constexpr std::uint64_t kMaxThreads = 1024;

// The run keeps one Tally (and one Extra, when an analysis needs one) per
// segment of kSegmentDraws draws in memory until it writes the result, and a
// sweep some more per cell (check_state_size). The whole must stay within
// kMaxStateBytes; kMaxDraws alone keeps the Tallies of a plain run within it.
constexpr std::uint64_t kSegmentDraws = kBlockDraws * kSegmentBlocks;  // 2^26
constexpr std::uint64_t kMaxStateBytes = std::uint64_t{4} << 30;
constexpr std::uint64_t kMaxDraws = std::uint64_t{1} << 47;  // 2^21 segments
static_assert(kMaxDraws % kSegmentDraws == 0, "kMaxDraws is whole segments");
static_assert(kMaxDraws / kSegmentDraws * sizeof(Tally) <= kMaxStateBytes,
              "the Tallies of kMaxDraws draws must fit in kMaxStateBytes");
static_assert(2 * kMaxDraws / kSegmentDraws * sizeof(Tally) > kMaxStateBytes,
              "kMaxDraws is the largest power of two that fits");
// Measured (docs/config.md, "Limits"): what a sweep holds per cell beyond the
// cell's segment Tallies (its DrawSpec, summaries, output buffers).
constexpr std::uint64_t kSweepCellBytes = 8192;

// truncnormal: the interval's nearer end at most this many sd from the mean.
// The sampler inverts Phi on the reflected interval, which must not lie below
// -37 sd: Phi(-37) = 5.7e-300; below about -37.6 Phi is subnormal (it loses
// precision) and below -38.5 it is 0, where the sampler cannot tell the
// interval's points apart and draws uniformly instead.
constexpr double kMaxTruncSd = 37.0;

struct DistInfo {
  DistKind kind;
  std::vector<std::string> fields;  // in Dist p0..p3 order
  std::size_t required;             // the first `required` fields must be given
  double defaults[4];               // for the optional ones
};

const std::vector<DistInfo>& dist_table() {
  static const std::vector<DistInfo> table = {
      {DistKind::fixed, {"value"}, 1, {0, 0, 0, 0}},
      {DistKind::uniform, {"low", "high"}, 2, {0, 0, 0, 0}},
      {DistKind::normal, {"mean", "sd"}, 2, {0, 0, 0, 0}},
      {DistKind::truncnormal, {"mean", "sd", "low", "high"}, 4, {0, 0, 0, 0}},
      {DistKind::lognormal, {"meanlog", "sdlog"}, 2, {0, 0, 0, 0}},
      {DistKind::triangular, {"low", "mode", "high"}, 3, {0, 0, 0, 0}},
      {DistKind::beta, {"alpha", "beta", "low", "high"}, 2, {0, 0, 0, 1}},
  };
  return table;
}

std::vector<std::string> dist_names() {
  std::vector<std::string> names;
  for (const auto& d : dist_table()) names.emplace_back(to_string(d.kind));
  return names;
}

std::vector<std::string> all_dist_fields() {
  std::vector<std::string> all = {"dist"};
  for (const auto& d : dist_table()) {
    for (const auto& f : d.fields) {
      if (std::find(all.begin(), all.end(), f) == all.end()) all.push_back(f);
    }
  }
  return all;
}

// The key and value nodes of `name` in a map (keys are unique by then).
// yaml-cpp's map[name] is avoided: a miss yields a node that throws on use.
bool find_key(const YAML::Node& map, const std::string& name, YAML::Node& key, YAML::Node& value) {
  for (auto kv = map.begin(); kv != map.end(); ++kv) {
    if (kv->first.Scalar() == name) {
      key.reset(kv->first);
      value.reset(kv->second);
      return true;
    }
  }
  return false;
}

// Distinct nodes met in a walk of the tree, each with a state. yaml-cpp shows
// no node's address, only Node::is(), so nodes are bucketed by where they
// start in the text and their kind: the parser's collections start at
// distinct places, so a bucket holds one node, reached by any of its aliases.
// (Copies an override made all say 1:1 and share a bucket; there are few.)
class NodeSet {
 public:
  // The state of `node`, or nullptr when it was not added.
  int* find(const YAML::Node& node) {
    const auto b = buckets_.find(key(node));
    if (b == buckets_.end()) return nullptr;
    for (auto& entry : b->second) {
      if (entry.first.is(node)) return &entry.second;
    }
    return nullptr;
  }
  void add(const YAML::Node& node, int state) { buckets_[key(node)].emplace_back(node, state); }

 private:
  static std::uint64_t key(const YAML::Node& node) {
    const YAML::Mark m = node.Mark();
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(m.pos)) << 3) ^
           static_cast<std::uint64_t>(node.Type());
  }
  std::unordered_map<std::uint64_t, std::vector<std::pair<YAML::Node, int>>> buckets_;
};

// How many places in the tree hold `target` (more than one: aliases). Each
// distinct map or sequence is looked into once, so that aliases of aliases
// (a "billion laughs" file) cost their size in the text, not their expansion.
int uses(const YAML::Node& root, const YAML::Node& target) {
  if (root.is(target)) return 1;
  NodeSet seen;
  std::vector<YAML::Node> todo{root};
  seen.add(root, 0);
  int n = 0;
  auto visit = [&](const YAML::Node& child) {
    if (child.is(target)) {
      ++n;  // not looked into: the same node below it would be a cycle
    } else if ((child.IsMap() || child.IsSequence()) && !seen.find(child)) {
      seen.add(child, 0);
      todo.push_back(child);
    }
  };
  while (!todo.empty()) {
    const YAML::Node node = todo.back();
    todo.pop_back();
    if (node.IsMap()) {
      for (auto kv = node.begin(); kv != node.end(); ++kv) visit(kv->second);
    } else if (node.IsSequence()) {
      for (const auto& elem : node) visit(elem);
    }
  }
  return n;
}

// The file positions below a map an override is about to copy (the copy has
// none), by key path: at most a few levels and entries, enough for messages.
void record_marks(const YAML::Node& node, const std::string& path, const YAML::Mark& mark,
                  int depth, std::map<std::string, YAML::Mark>& out) {
  if (out.size() >= 4096) return;
  out.emplace(path, mark);
  if (depth >= 4) return;
  if (node.IsMap()) {
    for (auto kv = node.begin(); kv != node.end(); ++kv) {
      const YAML::Mark m =
          kv->second.IsNull() || kv->second.Mark().is_null() ? kv->first.Mark() : kv->second.Mark();
      record_marks(kv->second, child_path(path, kv->first.Scalar()), m, depth + 1, out);
    }
  } else if (node.IsSequence()) {
    std::size_t i = 0;
    for (const auto& elem : node) {
      const YAML::Mark m = elem.Mark().is_null() ? mark : elem.Mark();
      record_marks(elem, fmt::format("{}[{}]", path, i++), m, depth + 1, out);
    }
  }
}

// ---- the validator ----------------------------------------------------------------

// A value in the tree with its key path and the place to point at: the value
// itself, or its key when the value is empty (yaml-cpp marks an empty value at
// whatever follows it, often the next line).
struct Item {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;
};

struct Applied {
  std::string path;   // dotted key the override set
  std::string text;   // "KEY=VALUE" as given
  std::string label;  // how messages name it: "--set KEY", or the option (--draws)
};

class Reader {
 public:
  // check_memory: refuse configs whose run would hold more than
  // kMaxStateBytes (check_state_size). Off for configs stored in result
  // files, which a run made already, so that they can be read back whatever
  // the machine that ran them allowed.
  Reader(std::string source, bool check_memory)
      : check_memory_(check_memory), source_(std::move(source)) {}

  void apply_overrides(YAML::Node& root, const std::vector<Override>& overrides);
  void check_file_tree(const YAML::Node& node, const std::string& path, int depth = 0);
  Config read(const YAML::Node& root);

  [[noreturn]] void fail_mark(const YAML::Mark& mark, const std::string& msg) const {
    throw InputError(fmt::format("{}:{}:{}: {}", source_, mark.line + 1, mark.column + 1, msg));
  }

 private:
  // Where a value at `path` came from: the innermost override covering it,
  // else its file position, else (a map an override created) that override.
  std::string locate(const std::string& path, const YAML::Mark& mark, bool& from_override) const {
    const Applied* best = nullptr;
    for (const auto& a : live_) {
      if ((a.path == path || has_prefix(path, a.path)) &&
          (!best || a.path.size() > best->path.size())) {
        best = &a;
      }
    }
    from_override = best != nullptr;
    if (best) return best->label;
    if (!mark.is_null()) {
      const YAML::Mark m = clone_mark(path, mark);
      return fmt::format("{}:{}:{}", source_, m.line + 1, m.column + 1);
    }
    for (const auto& a : live_) {
      if (has_prefix(a.path, path)) {
        from_override = true;
        return a.label;
      }
    }
    return source_;
  }

  // A node below a map an override copied (an alias shared it) has no file
  // position of its own: the one the file's node there had, else the nearest
  // above it. The outermost copy's record holds the file's positions.
  YAML::Mark clone_mark(const std::string& path, const YAML::Mark& mark) const {
    const CloneMarks* outer = nullptr;
    for (const auto& c : clones_) {
      if ((c.path == path || has_prefix(path, c.path)) &&
          (!outer || c.path.size() < outer->path.size())) {
        outer = &c;
      }
    }
    if (!outer) return mark;
    std::string p = path;
    for (;;) {
      const auto at = outer->marks.find(p);
      if (at != outer->marks.end()) return at->second;
      const std::size_t cut = p.find_last_of(".[");
      if (cut == std::string::npos || p.size() <= outer->path.size()) return mark;
      p.resize(cut);
    }
  }

  // "WHERE: PATH: MSG"; PATH is left out when WHERE already is "--set PATH".
  // A file-located error inside a map that overrides changed lists them, as
  // the file alone would not explain it.
  [[noreturn]] void fail_at(const std::string& loc_path, const YAML::Mark& mark,
                            const std::string& msg_path, const std::string& msg) const {
    bool from_override = false;
    const std::string where = locate(loc_path, mark, from_override);
    std::string text = where + ": ";
    if (!msg_path.empty() && where != "--set " + msg_path && !from_override_option(where))
      text += msg_path + ": ";
    text += msg;
    if (!from_override && !msg_path.empty()) {
      std::vector<std::string> inside;
      for (const auto& a : applied_) {
        if (has_prefix(a.path, msg_path))
          inside.push_back(a.label == "--set " + a.path ? "--set " + a.text : a.label);
      }
      if (!inside.empty()) text += fmt::format(" (after {})", join(inside, ", "));
    }
    throw InputError(text);
  }

  // A command-line option (--draws) already says which key it sets.
  static bool from_override_option(const std::string& where) {
    return where.rfind("--", 0) == 0 && where.rfind("--set ", 0) != 0;
  }

  [[noreturn]] void fail(const Item& at, const std::string& msg) const {
    fail_at(at.path, at.mark, at.path, msg);
  }

  static Item child(const Item& parent, const YAML::Node& key, const YAML::Node& value) {
    const YAML::Mark m = value.IsNull() || value.Mark().is_null() ? key.Mark() : value.Mark();
    return Item{value, child_path(parent.path, key.Scalar()), m};
  }

  void require_value(const Item& it) const {
    if (!it.node.IsDefined() || it.node.IsNull()) fail(it, "has no value");
  }

  [[noreturn]] void unknown_key(const Item& parent, const YAML::Node& key,
                                const std::string& hint) {
    fail_at(child_path(parent.path, key.Scalar()), key.Mark(), parent.path,
            fmt::format("unknown key '{}'{}", key.Scalar(), hint));
  }

  double number(const Item& it) const;
  std::uint64_t integer(const Item& it, std::uint64_t min, std::uint64_t max,
                        const char* range_text) const;
  std::string choice(const Item& it, const std::vector<std::string>& allowed) const;
  Dist distribution(const Item& it, bool is_theta);
  void read_parameters(const Item& params, Config& cfg);
  void read_output(const Item& out, Config& cfg);
  void read_checkpoint(const Item& ck, Config& cfg);
  void read_sweep(const Item& it, Config& cfg);
  SweepAxis read_axis(const Item& ax);
  // A list of names (fields, events) from a YAML sequence, as indices into
  // `known`; `what` names the kind in messages. Duplicates are errors.
  std::vector<int> name_list(const Item& it, const std::vector<std::string>& known,
                             const char* what) const;
  void read_histograms(const Item& it, Config& cfg);
  void read_conditions(const Item& it, Config& cfg);
  void read_draws_output(const Item& out, Config& cfg);
  void read_correlation(const Item& it, Config& cfg);
  void read_sensitivity(const Item& it, Config& cfg);
  void read_paths(const Item& it, Config& cfg);
  void check_probability(const Item& it, const Dist& d) const;
  // A file path: no NUL or other control character (a NUL would cut the
  // path short, a newline folds to a space when the config is read back).
  void check_path_text(const Item& it) const;
  // What the run will hold in memory per segment and per cell, against
  // kMaxStateBytes (docs/config.md, "Limits").
  void check_state_size(const YAML::Node& root, const Config& cfg);
  // Cross-key checks once everything is read (e.g. a sweep axis must name a
  // parameter the config gives, correlation needs sampled parameters).
  void check_combinations(const YAML::Node& root, Config& cfg);
  void check_correlation(Config& cfg);

  // correlation as read_correlation found it, for check_correlation: the
  // names in order (with their items and labels, for messages) and r over them.
  struct CorrelationName {
    Item item;
    std::string label;
  };
  struct CorrelationRead {
    Item at;
    std::vector<CorrelationName> names;
    std::vector<double> r;  // names.size() squared, row-major
  };
  CorrelationRead corr_;
  bool have_corr_ = false;

  // Maps apply_overrides copied because an alias shared them: their path and
  // the file positions below them (record_marks).
  struct CloneMarks {
    std::string path;
    std::map<std::string, YAML::Mark> marks;
  };
  std::vector<CloneMarks> clones_;
  NodeSet walked_;  // check_file_tree's: open (on the path walked) or done
  bool check_memory_;

  std::string source_;
  std::vector<Applied> live_;     // overrides whose values are in the tree now
  std::vector<Applied> applied_;  // every override applied, deletions included
};

void Reader::check_file_tree(const YAML::Node& node, const std::string& path, int depth) {
  // A config is three levels deep; stop long before the stack does.
  if (depth > 32) fail_mark(node.Mark(), fmt::format("{}: nested too deeply", path));
  if (!node.IsSequence() && !node.IsMap()) return;
  // An alias names a node walked already: once is enough, or aliases of
  // aliases (a "billion laughs" file) take the time of their expansion. One
  // on the path being walked makes a node contain itself (&x [*x]).
  enum { kOpen, kDone };
  if (const int* state = walked_.find(node)) {
    if (*state == kOpen) {
      fail_mark(node.Mark(),
                fmt::format("{}: nested too deeply (it contains itself through an alias)", path));
    }
    return;
  }
  walked_.add(node, kOpen);
  if (node.IsSequence()) {
    for (const auto& elem : node) check_file_tree(elem, path, depth + 1);
    *walked_.find(node) = kDone;
    return;
  }
  std::map<std::string, YAML::Mark> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      fail_mark(it->first.Mark(), fmt::format("{}{}keys must be plain names, not {}", path,
                                              path.empty() ? "" : ": ", describe(it->first)));
    }
    const std::string& key = it->first.Scalar();
    const auto prev = seen.find(key);
    if (prev != seen.end()) {
      fail_mark(it->first.Mark(),
                fmt::format("{}{}duplicate key '{}' (first given at line {}, column {})", path,
                            path.empty() ? "" : ": ", key, prev->second.line + 1,
                            prev->second.column + 1));
    }
    seen.emplace(key, it->first.Mark());
    check_file_tree(it->second, child_path(path, key), depth + 1);
  }
  *walked_.find(node) = kDone;
}

void Reader::apply_overrides(YAML::Node& root, const std::vector<Override>& overrides) {
  for (const auto& ov : overrides) {
    const std::vector<std::string> parts = split_key(ov.key);
    for (const auto& p : parts) {
      if (p.empty()) {
        throw InputError(fmt::format("--set {}: bad key (empty part between dots)", ov.key));
      }
    }
    // An option (--draws, ...) sets its key; only --set deletes.
    const bool option = !ov.origin.empty();
    const std::string head = option ? ov.origin : "--set " + ov.key;
    const std::string text = trim(ov.value);
    if (text.empty()) {
      if (option) throw InputError(fmt::format("{}: empty value", head));
      throw InputError(fmt::format(
          "{}: empty value (write '~' to delete the key, '\"\"' for an empty string)", head));
    }
    YAML::Node value;  // note: Node's operator= writes through; reset() rebinds
    try {
      YamlDocument doc = load_yaml_document(ov.value);
      if (doc.another)
        throw YAML::ParserException(*doc.another,
                                    "more follows the value (quote it if it is text)");
      value.reset(doc.root);
    } catch (const YAML::ParserException& e) {
      throw InputError(fmt::format("{}: cannot parse value '{}' as YAML (column {}): {}", head,
                                   ov.value, e.mark.column + 1, e.msg));
    }
    // Only the null spellings delete. Other text that YAML reads as null (a
    // comment '#5', '---', '...', a directive, '!!null') holds no value: as
    // empty as nothing at all, and as much an error.
    const bool null_spelling = text == "~" || text == "null" || text == "Null" || text == "NULL";
    if (value.IsNull() && option) {
      throw InputError(fmt::format(
          "{}: expected a value, got '{}', which YAML reads as null (an option cannot remove a "
          "key; --set can)",
          head, ov.value));
    }
    if (value.IsNull() && !null_spelling) {
      throw InputError(fmt::format(
          "{}: empty value ('{}' reads as no value in YAML; only '~', 'null', 'Null' or 'NULL' "
          "deletes the key, and '\"\"' is an empty string)",
          head, ov.value));
    }
    const bool erase = value.IsNull();

    YAML::Node cur = root;  // a handle: reset() moves it, assignment would overwrite
    std::string walked;
    bool gone = false;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      walked = child_path(walked, parts[i]);
      const YAML::Node& ccur = cur;  // const lookup: a miss must not insert anything
      const YAML::Node next = ccur[parts[i]];
      if (!next.IsDefined() || next.IsNull()) {
        if (erase) {
          gone = true;
          break;
        }
        cur.remove(parts[i]);
        cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      } else if (next.IsMap() && uses(root, next) > 1) {
        // An alias (*x) shares the map with another key: edit a copy, so
        // that the other key keeps its value. The copy has no file marks
        // (yaml-cpp gives it 1:1): messages take the file's (clone_mark).
        CloneMarks rec{walked, {}};
        record_marks(next, walked, next.Mark(), 0, rec.marks);
        clones_.push_back(std::move(rec));
        const YAML::Node copy = YAML::Clone(next);
        cur.remove(parts[i]);
        cur[parts[i]] = copy;
      } else if (!next.IsMap()) {
        bool unused = false;
        throw InputError(fmt::format(
            "{}: cannot set a key inside '{}': it is {} (from {}), not a map; set it whole, "
            "e.g. --set {}={{dist: uniform, low: 1, high: 2}}",
            head, walked, describe(next), locate(walked, next.Mark(), unused), walked));
      }
      const YAML::Node step = static_cast<const YAML::Node&>(cur)[parts[i]];
      cur.reset(step);
    }
    if (!gone) {
      if (erase) {
        cur.remove(parts.back());
      } else {
        // Remove first: assigning onto an existing node would write through
        // to every alias of it.
        cur.remove(parts.back());
        cur[parts.back()] = value;
      }
    }
    // The override replaced (or deleted) everything under its key, including
    // what earlier overrides put there.
    live_.erase(std::remove_if(live_.begin(), live_.end(),
                               [&](const Applied& a) {
                                 return a.path == ov.key || has_prefix(a.path, ov.key);
                               }),
                live_.end());
    clones_.erase(std::remove_if(clones_.begin(), clones_.end(),
                                 [&](const CloneMarks& c) {
                                   return c.path == ov.key || has_prefix(c.path, ov.key);
                                 }),
                  clones_.end());
    const Applied rec{ov.key, ov.key + "=" + ov.value, head};
    if (!erase) live_.push_back(rec);
    applied_.push_back(rec);
  }
}

double Reader::number(const Item& it) const {
  require_value(it);
  if (!it.node.IsScalar()) fail(it, fmt::format("expected a number, got {}", describe(it.node)));
  double v = 0;
  switch (parse_number(it.node.Scalar(), v)) {
    case NumStatus::not_number:
      fail(it, fmt::format("expected a number, got {}", describe(it.node)));
    case NumStatus::out_of_range:
      fail(it, fmt::format("number out of range (got {})", describe(it.node)));
    case NumStatus::ok:
      break;
  }
  if (!std::isfinite(v)) fail(it, fmt::format("must be finite (got {})", format_number(v)));
  return v;
}

std::uint64_t Reader::integer(const Item& it, std::uint64_t min, std::uint64_t max,
                              const char* range_text) const {
  require_value(it);
  if (!it.node.IsScalar()) {
    fail(it, fmt::format("expected an integer, got {}", describe(it.node)));
  }
  Integer v;
  switch (parse_integer(it.node.Scalar(), v)) {
    case IntStatus::not_number:
      fail(it, fmt::format("expected an integer, got {}", describe(it.node)));
    case IntStatus::not_finite:
      fail(it, fmt::format("must be a finite integer (got {})", describe(it.node)));
    case IntStatus::not_whole:
      fail(it, fmt::format("must be a whole number (got {})", describe(it.node)));
    case IntStatus::too_large:
      fail(it, fmt::format("too large (got {}; at most {})", describe(it.node), max));
    case IntStatus::inexact:
      fail(it, fmt::format("too large for float form (got {}); above 2^53 write the integer "
                           "in plain digits",
                           describe(it.node)));
    case IntStatus::ok:
      break;
  }
  if (!v.negative && v.magnitude > max) {
    fail(it, fmt::format("too large (got {}; at most {})", trim(it.node.Scalar()), max));
  }
  if (v.negative || v.magnitude < min) {
    fail(it, fmt::format("must be {} (got {})", range_text, trim(it.node.Scalar())));
  }
  return v.magnitude;
}

std::string Reader::choice(const Item& it, const std::vector<std::string>& allowed) const {
  require_value(it);
  if (it.node.IsScalar()) {
    const std::string& s = it.node.Scalar();
    if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
  }
  fail(it, fmt::format("must be one of {} (got {}){}", join(allowed, ", "), describe(it.node),
                       it.node.IsScalar() ? suggestion(it.node.Scalar(), allowed) : ""));
}

Dist Reader::distribution(const Item& it, bool is_theta) {
  require_value(it);
  Dist d;
  if (it.node.IsScalar()) {
    double v = 0;
    if (parse_number(it.node.Scalar(), v) == NumStatus::not_number) {
      fail(it, fmt::format("expected a number or a {{dist: ...}} map, got {}", describe(it.node)));
    }
    d.kind = DistKind::fixed;
    d.p0 = number(it);
    if (is_theta && (d.p0 < 0 || d.p0 > 1)) {
      fail(it, fmt::format("theta must lie in [0, 1] (got {})", format_number(d.p0)));
    }
    return d;
  }
  if (!it.node.IsMap()) {
    fail(it, fmt::format("expected a number or a {{dist: ...}} map, got {}", describe(it.node)));
  }

  // Which distribution: without a 'dist' key, an unknown key is the likelier
  // slip ('distr: uniform'), so report that first.
  const YAML::Node& node = it.node;
  YAML::Node kind_key, kind_node;
  if (!find_key(node, "dist", kind_key, kind_node)) {
    const std::vector<std::string> known = all_dist_fields();
    for (auto kv = node.begin(); kv != node.end(); ++kv) {
      const std::string& key = kv->first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        unknown_key(it, kv->first, suggestion(key, known));
      }
    }
    fail(it, fmt::format("missing 'dist' (one of {})", join(dist_names(), ", ")));
  }
  const Item kind_item = child(it, kind_key, kind_node);
  require_value(kind_item);
  const DistInfo* info = nullptr;
  if (kind_node.IsScalar()) {
    for (const auto& di : dist_table()) {
      if (kind_node.Scalar() == to_string(di.kind)) info = &di;
    }
  }
  if (!info) {
    fail(kind_item,
         fmt::format("unknown distribution {}{}; expected one of {}", describe(kind_node),
                     kind_node.IsScalar() ? suggestion(kind_node.Scalar(), dist_names()) : "",
                     join(dist_names(), ", ")));
  }
  const char* kind_name = to_string(info->kind);

  // Keys that belong to another distribution get a message saying so.
  for (auto kv = node.begin(); kv != node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    if (key == "dist" ||
        std::find(info->fields.begin(), info->fields.end(), key) != info->fields.end()) {
      continue;
    }
    const std::vector<std::string> known = all_dist_fields();
    std::string hint;
    if (std::find(known.begin(), known.end(), key) != known.end()) {
      hint =
          fmt::format(" for a {} distribution (it takes {})", kind_name, join(info->fields, ", "));
    } else {
      hint = suggestion(key, info->fields);
      if (hint.empty()) hint = fmt::format(" (a {} takes {})", kind_name, join(info->fields, ", "));
    }
    unknown_key(it, kv->first, hint);
  }

  double p[4] = {info->defaults[0], info->defaults[1], info->defaults[2], info->defaults[3]};
  Item field[4];
  for (std::size_t i = 0; i < info->fields.size(); ++i) {
    const std::string& name = info->fields[i];
    YAML::Node key_node, value_node;
    if (!find_key(node, name, key_node, value_node)) {
      if (i < info->required) {
        std::vector<std::string> req(
            info->fields.begin(),
            info->fields.begin() + static_cast<std::ptrdiff_t>(info->required));
        fail(it, fmt::format("missing '{}' (a {} distribution needs {})", name, kind_name,
                             join(req, ", ")));
      }
      field[i] = it;  // a default: cross-field messages point at the map
      continue;
    }
    field[i] = child(it, key_node, value_node);
    p[i] = number(field[i]);
  }
  d.kind = info->kind;
  d.p0 = p[0], d.p1 = p[1], d.p2 = p[2], d.p3 = p[3];

  auto positive = [&](std::size_t i) {
    if (!(p[i] > 0)) fail(field[i], fmt::format("must be > 0 (got {})", format_number(p[i])));
  };
  // low < high, and a width that itself is finite (1e308 - -1e308 is not).
  auto ordered = [&](std::size_t lo, std::size_t hi) {
    if (!(p[lo] < p[hi])) {
      fail(it, fmt::format("{} ({}) must be < {} ({})", info->fields[lo], format_number(p[lo]),
                           info->fields[hi], format_number(p[hi])));
    }
    if (!std::isfinite(p[hi] - p[lo])) {
      fail(it, fmt::format("{} - {} overflows; use a narrower range", info->fields[hi],
                           info->fields[lo]));
    }
  };
  std::size_t lo = 0, hi = 0;  // bounds, for the theta check
  switch (info->kind) {
    case DistKind::fixed:
      if (is_theta && (p[0] < 0 || p[0] > 1)) {
        fail(field[0], fmt::format("theta must lie in [0, 1] (got {})", format_number(p[0])));
      }
      return d;
    case DistKind::uniform:
      ordered(0, 1), lo = 0, hi = 1;
      break;
    case DistKind::normal:
      positive(1);
      break;
    case DistKind::truncnormal: {
      positive(1), ordered(2, 3), lo = 2, hi = 3;
      // Standardized and reflected into the lower tail as the sampler does.
      const TruncInterval t = trunc_interval(d);
      if (t.b < -kMaxTruncSd) {
        std::string sds = fmt::format("{:.4g}", -t.b);
        if (!(std::stod(sds) > kMaxTruncSd)) sds = format_number(-t.b);
        fail(it, fmt::format("the interval [{}, {}] lies {} sd {} the mean; truncnormal samples "
                             "intervals within {} sd of the mean (the normal CDF underflows "
                             "beyond)",
                             format_number(p[2]), format_number(p[3]), sds,
                             t.flip ? "above" : "below", kMaxTruncSd));
      }
      break;
    }
    case DistKind::lognormal:
      positive(1);
      break;
    case DistKind::triangular:
      ordered(0, 2), lo = 0, hi = 2;
      if (p[1] < p[0] || p[1] > p[2]) {
        fail(field[1], fmt::format("must lie in [low, high] = [{}, {}] (got {})",
                                   format_number(p[0]), format_number(p[2]), format_number(p[1])));
      }
      break;
    case DistKind::beta:
      positive(0), positive(1), ordered(2, 3), lo = 2, hi = 3;
      break;
  }
  if (is_theta) {
    if (info->kind == DistKind::normal || info->kind == DistKind::lognormal) {
      fail(it, fmt::format("a {} distribution is unbounded, but theta must stay in [0, 1]; "
                           "use a bounded one: uniform, triangular, truncnormal or beta",
                           kind_name));
    }
    if (p[lo] < 0 || p[hi] > 1) {
      fail(it, fmt::format("theta must stay in [0, 1], but [{}, {}] = [{}, {}] leaves it",
                           info->fields[lo], info->fields[hi], format_number(p[lo]),
                           format_number(p[hi])));
    }
  }
  return d;
}

void Reader::read_parameters(const Item& params, Config& cfg) {
  require_value(params);
  if (!params.node.IsMap()) {
    fail(params, fmt::format("expected a map of parameters (a, b, c, A1, ...), got {}",
                             describe(params.node)));
  }
  struct Given {
    YAML::Node key;
    bool set = false;
  };
  std::map<std::string, Given> given;
  for (auto kv = params.node.begin(); kv != params.node.end(); ++kv) {
    const std::string& name = kv->first.Scalar();
    if (std::find(kParamKeys.begin(), kParamKeys.end(), name) == kParamKeys.end()) {
      std::string hint = suggestion(name, kParamKeys);
      if (hint.empty() && std::find(kTopKeys.begin(), kTopKeys.end(), name) != kTopKeys.end()) {
        hint = fmt::format(" ('{}' is a top-level key: do not indent it under 'parameters')", name);
      }
      if (hint.empty()) hint = fmt::format(" (parameters are {})", join(kParamKeys, ", "));
      unknown_key(params, kv->first, hint);
    }
    given.emplace(name, Given{kv->first, true});
  }

  // Alternatives: both given is an error at the later key.
  auto both = [&](const char* x, const char* y, const char* undo) {
    if (!given[x].set || !given[y].set) return;
    const YAML::Node& kx = given[x].key;
    const YAML::Node& ky = given[y].key;
    std::size_t ix = 0, iy = 0, n = 0;
    for (auto kv = params.node.begin(); kv != params.node.end(); ++kv, ++n) {
      if (kv->first.is(kx)) ix = n;
      if (kv->first.is(ky)) iy = n;
    }
    const YAML::Node& later = iy > ix ? ky : kx;
    const std::string later_name = later.Scalar();
    bool from_override = false;
    locate(child_path("parameters", later_name), later.Mark(), from_override);
    const std::string hint =
        from_override
            ? fmt::format(" (add --set parameters.{}=~ to drop the other)", later_name == x ? y : x)
            : std::string();
    fail_at(child_path("parameters", later_name), later.Mark(), "parameters",
            fmt::format("give exactly one of '{}' and '{}', not both; {}{}", x, y, undo, hint));
  };
  both("A2", "A2_gap", "A2_gap sets A2 = A1 + A2_gap");
  both("A2p", "theta", "theta sets A2p = A1 + theta (A2 - A1)");

  std::vector<std::string> missing;
  for (const char* name : {"a", "b", "c", "A1"}) {
    if (!given[name].set) missing.push_back(fmt::format("'{}'", name));
  }
  if (!given["A2"].set && !given["A2_gap"].set) missing.emplace_back("'A2' or 'A2_gap'");
  if (!given["A2p"].set && !given["theta"].set) missing.emplace_back("'A2p' or 'theta'");
  if (!missing.empty()) fail(params, "missing " + join(missing, ", "));

  for (auto kv = params.node.begin(); kv != params.node.end(); ++kv) {
    const std::string& name = kv->first.Scalar();
    const Item item = child(params, kv->first, kv->second);
    const bool theta = name == "theta";
    const Dist d = distribution(item, theta);
    if (name == "a") cfg.dist[S_a] = d;
    if (name == "b") cfg.dist[S_b] = d;
    if (name == "c") cfg.dist[S_c] = d;
    if (name == "A1") cfg.dist[S_A1] = d;
    if (name == "A2" || name == "A2_gap") cfg.dist[S_A2] = d, cfg.a2_is_gap = name == "A2_gap";
    if (name == "A2p" || theta) cfg.dist[S_A2p] = d, cfg.a2p_is_theta = theta;
  }
}

void Reader::read_output(const Item& out, Config& cfg) {
  require_value(out);
  if (!out.node.IsMap()) {
    fail(out, fmt::format("expected a map such as {{path: results/run.h5}}, got {}",
                          describe(out.node)));
  }
  for (auto kv = out.node.begin(); kv != out.node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    const Item item = child(out, kv->first, kv->second);
    if (key == "path") {
      require_value(item);
      if (!item.node.IsScalar()) {
        fail(item, fmt::format("expected a file path, got {}", describe(item.node)));
      }
      if (item.node.Scalar().empty()) fail(item, "must not be empty");
      check_path_text(item);
      cfg.output_path = item.node.Scalar();
    } else if (key == "draws" || key == "fields" || key == "compression") {
      // read together once the whole map is known (fields without draws is an error)
    } else {
      std::string hint = suggestion(key, kOutputKeys);
      if (hint.empty()) hint = " (output takes: path, draws, fields, compression)";
      unknown_key(out, kv->first, hint);
    }
  }
  read_draws_output(out, cfg);
}

void Reader::read_checkpoint(const Item& ck, Config& cfg) {
  require_value(ck);
  if (!ck.node.IsMap()) {
    fail(ck, fmt::format("expected a map such as {{every: 600}}, got {}", describe(ck.node)));
  }
  bool have_every = false;
  for (auto kv = ck.node.begin(); kv != ck.node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    const Item item = child(ck, kv->first, kv->second);
    if (key == "every") {
      const double v = number(item);
      if (!(v > 0)) fail(item, fmt::format("must be > 0 seconds (got {})", format_number(v)));
      cfg.checkpoint_every = v;
      have_every = true;
    } else if (key == "path") {
      require_value(item);
      if (!item.node.IsScalar()) {
        fail(item, fmt::format("expected a file path, got {}", describe(item.node)));
      }
      if (item.node.Scalar().empty()) fail(item, "must not be empty");
      check_path_text(item);
      cfg.checkpoint_path = item.node.Scalar();
    } else {
      std::string hint = suggestion(key, kCheckpointKeys);
      if (hint.empty()) hint = " (checkpoint takes: every, path)";
      unknown_key(ck, kv->first, hint);
    }
  }
  if (!have_every) fail(ck, "missing 'every' (seconds between checkpoints, > 0)");
}

Config Reader::read(const YAML::Node& root) {
  Config cfg;
  cfg.source = source_;
  const Item top{root, "", root.Mark()};
  bool have_params = false;
  for (auto kv = root.begin(); kv != root.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    const Item item = child(top, kv->first, kv->second);
    if (key == "draws") {
      cfg.draws = integer(item, 1, kMaxDraws, "an integer >= 1");
    } else if (key == "seed") {
      cfg.seed = integer(item, 0, UINT64_MAX, "an integer in [0, 2^64-1]");
    } else if (key == "threads") {
      cfg.threads =
          static_cast<int>(integer(item, 0, kMaxThreads, "an integer >= 0 (0: all cores)"));
    } else if (key == "model") {
      cfg.model = choice(item, kModelNames) == "paper" ? ModelMode::paper : ModelMode::constrained;
    } else if (key == "backend") {
      const std::string b = choice(item, kBackendNames);
      cfg.backend = b == "cpu"    ? BackendChoice::cpu
                    : b == "cuda" ? BackendChoice::cuda
                                  : BackendChoice::automatic;
    } else if (key == "parameters") {
      read_parameters(item, cfg);
      have_params = true;
    } else if (key == "output") {
      read_output(item, cfg);
    } else if (key == "checkpoint") {
      read_checkpoint(item, cfg);
    } else if (key == "stream") {
      cfg.stream =
          static_cast<std::uint32_t>(integer(item, 0, UINT32_MAX, "an integer in [0, 2^32-1]"));
    } else if (key == "sweep") {
      read_sweep(item, cfg);
    } else if (key == "histograms") {
      read_histograms(item, cfg);
    } else if (key == "conditions") {
      read_conditions(item, cfg);
    } else if (key == "correlation") {
      read_correlation(item, cfg);
    } else if (key == "sensitivity") {
      read_sensitivity(item, cfg);
    } else if (key == "paths") {
      read_paths(item, cfg);
    } else {
      std::string hint = suggestion(key, kTopKeys);
      if (hint.empty() &&
          std::find(kParamKeys.begin(), kParamKeys.end(), key) != kParamKeys.end()) {
        hint = fmt::format(" ('{}' is a parameter: put it under 'parameters:')", key);
      }
      if (hint.empty()) hint = fmt::format(" (known keys: {})", join(kTopKeys, ", "));
      unknown_key(top, kv->first, hint);
    }
  }
  if (!have_params) {
    fail_at("", root.Mark(), "", "missing 'parameters' (a, b, c, A1, A2 or A2_gap, A2p or theta)");
  }
  check_combinations(root, cfg);
  return cfg;
}

// --- correlation (issue 4) -------------------------------------------------
//
// correlation: {matrix: {names: [...], values: [[...], ...]}} or
// correlation: {pairs: [{between: [x, y], r: R}, ...]} (docs/config.md,
// "Correlated inputs"). read_correlation checks the matrix on its own (shape,
// range, symmetry, positive definiteness); check_correlation, once the
// parameters are known (they may come later in the file), resolves the names
// to slots and checks that each is sampled by inversion.

const std::vector<std::string> kCorrelationKeys = {"matrix", "pairs"};
const std::vector<std::string> kCorrelationMatrixKeys = {"names", "values"};
const std::vector<std::string> kCorrelationPairKeys = {"between", "r"};

void Reader::read_correlation(const Item& it, Config&) {
  require_value(it);
  if (!it.node.IsMap()) {
    fail(it, fmt::format("expected a map with 'matrix' or 'pairs', got {}", describe(it.node)));
  }
  // Elements of sequences: `el.path` is the enclosing key's (what overrides
  // and file positions are looked up by), `label` what the message names.
  auto fail_el = [&](const Item& el, const std::string& label, const std::string& msg) {
    fail_at(el.path, el.mark, label, msg);
  };
  auto elements = [&](const Item& seq) {
    std::vector<Item> out;
    for (const auto& e : seq.node) {
      out.push_back(Item{e, seq.path, e.Mark().is_null() ? seq.mark : e.Mark()});
    }
    return out;
  };
  auto entry = [&](const Item& el, const std::string& label) {
    double v = 0;
    const NumStatus st =
        el.node.IsScalar() ? parse_number(el.node.Scalar(), v) : NumStatus::not_number;
    if (st == NumStatus::not_number) {
      fail_el(el, label, fmt::format("expected a number, got {}", describe(el.node)));
    }
    if (st == NumStatus::out_of_range) {
      fail_el(el, label, fmt::format("number out of range (got {})", describe(el.node)));
    }
    if (!std::isfinite(v))
      fail_el(el, label, fmt::format("must be finite (got {})", format_number(v)));
    return v;
  };
  auto name_of = [&](const Item& el, const std::string& label) {
    if (!el.node.IsScalar()) {
      fail_el(el, label, fmt::format("expected a parameter name, got {}", describe(el.node)));
    }
    const std::string& n = el.node.Scalar();
    if (std::find(kParamKeys.begin(), kParamKeys.end(), n) == kParamKeys.end()) {
      std::string hint = suggestion(n, kParamKeys);
      if (hint.empty()) hint = fmt::format(" (parameters are {})", join(kParamKeys, ", "));
      fail_el(el, label, fmt::format("unknown parameter '{}'{}", n, hint));
    }
    return n;
  };
  auto correlation_value = [&](const Item& el, const std::string& label, const std::string& x,
                               const std::string& y) {
    const double v = entry(el, label);
    if (v < -1.0 || v > 1.0) {
      fail_el(el, label,
              fmt::format("the correlation of {} and {} must lie in [-1, 1] (got {})", x, y,
                          format_number(v)));
    }
    return v;
  };

  Item matrix, pairs;
  bool have_matrix = false, have_pairs = false;
  for (auto kv = it.node.begin(); kv != it.node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    if (key == "matrix") {
      matrix = child(it, kv->first, kv->second), have_matrix = true;
    } else if (key == "pairs") {
      pairs = child(it, kv->first, kv->second), have_pairs = true;
    } else {
      std::string hint = suggestion(key, kCorrelationKeys);
      if (hint.empty()) hint = " (correlation takes one of: matrix, pairs)";
      unknown_key(it, kv->first, hint);
    }
  }
  if (have_matrix && have_pairs) fail(it, "give exactly one of 'matrix' and 'pairs', not both");
  if (!have_matrix && !have_pairs) {
    fail(it,
         "missing 'matrix' ({names: [a, c], values: [[1, 0.5], [0.5, 1]]}) or 'pairs' "
         "([{between: [a, c], r: 0.5}])");
  }

  CorrelationRead read;
  auto index_of = [&](const std::string& n) {
    for (std::size_t i = 0; i < read.names.size(); ++i) {
      if (read.names[i].item.node.Scalar() == n) return static_cast<int>(i);
    }
    return -1;
  };
  Item whole;  // what a positive-definiteness error points at
  if (have_matrix) {
    require_value(matrix);
    if (!matrix.node.IsMap()) {
      fail(matrix, fmt::format("expected a map {{names: [...], values: [[...], ...]}}, got {}",
                               describe(matrix.node)));
    }
    Item names, values;
    bool have_names = false, have_values = false;
    for (auto kv = matrix.node.begin(); kv != matrix.node.end(); ++kv) {
      const std::string& key = kv->first.Scalar();
      if (key == "names") {
        names = child(matrix, kv->first, kv->second), have_names = true;
      } else if (key == "values") {
        values = child(matrix, kv->first, kv->second), have_values = true;
      } else {
        std::string hint = suggestion(key, kCorrelationMatrixKeys);
        if (hint.empty()) hint = " (matrix takes: names, values)";
        unknown_key(matrix, kv->first, hint);
      }
    }
    if (!have_names) fail(matrix, "missing 'names' (the parameters, in the order of the rows)");
    if (!have_values) fail(matrix, "missing 'values' (one row of numbers per name)");
    require_value(names);
    if (!names.node.IsSequence() || names.node.size() < 2) {
      fail(names, fmt::format("expected a sequence of at least two parameter names, got {}",
                              names.node.IsSequence() ? fmt::format("{} name(s)", names.node.size())
                                                      : describe(names.node)));
    }
    const std::vector<Item> name_items = elements(names);
    for (std::size_t i = 0; i < name_items.size(); ++i) {
      const std::string label = fmt::format("{}[{}]", names.path, i);
      const std::string n = name_of(name_items[i], label);
      const int prev = index_of(n);
      if (prev >= 0) {
        fail_el(name_items[i], label,
                fmt::format("'{}' is listed twice (also as names[{}])", n, prev));
      }
      read.names.push_back({name_items[i], label});
    }
    const std::size_t n = read.names.size();
    require_value(values);
    if (!values.node.IsSequence() || values.node.size() != n) {
      fail(values, fmt::format("expected {} rows (one per name), got {}", n,
                               values.node.IsSequence() ? std::to_string(values.node.size())
                                                        : describe(values.node)));
    }
    read.r.assign(n * n, 0.0);
    const std::vector<Item> rows = elements(values);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string row_label = fmt::format("{}[{}]", values.path, i);
      if (!rows[i].node.IsSequence() || rows[i].node.size() != n) {
        fail_el(
            rows[i], row_label,
            fmt::format("expected a row of {} numbers (one per name), got {}", n,
                        rows[i].node.IsSequence() ? fmt::format("{} entries", rows[i].node.size())
                                                  : describe(rows[i].node)));
      }
      const std::vector<Item> cells = elements(rows[i]);
      for (std::size_t j = 0; j < n; ++j) {
        const std::string label = fmt::format("{}[{}]", row_label, j);
        const std::string& x = read.names[i].item.node.Scalar();
        const std::string& y = read.names[j].item.node.Scalar();
        const double v = entry(cells[j], label);
        if (i == j && v != 1.0) {
          fail_el(
              cells[j], label,
              fmt::format("the diagonal must be 1 ({} with itself), got {}", x, format_number(v)));
        }
        if (i != j) correlation_value(cells[j], label, x, y);
        if (j < i && v != read.r[j * n + i]) {
          fail_el(
              cells[j], label,
              fmt::format("the matrix is not symmetric: values[{}][{}] = {} but "
                          "values[{}][{}] = {} ({} and {})",
                          i, j, format_number(v), j, i, format_number(read.r[j * n + i]), x, y));
        }
        read.r[i * n + j] = v;
      }
    }
    whole = values;
  } else {
    require_value(pairs);
    if (!pairs.node.IsSequence() || pairs.node.size() == 0) {
      fail(pairs, fmt::format("expected a non-empty sequence such as [{{between: [a, c], r: "
                              "0.5}}], got {}",
                              pairs.node.IsSequence() ? "an empty one" : describe(pairs.node)));
    }
    struct Pair {
      int i, j;
      double r;
    };
    std::vector<Pair> given;
    const std::vector<Item> items = elements(pairs);
    for (std::size_t p = 0; p < items.size(); ++p) {
      const Item& el = items[p];
      const std::string label = fmt::format("{}[{}]", pairs.path, p);
      if (!el.node.IsMap()) {
        fail_el(
            el, label,
            fmt::format("expected a map {{between: [a, c], r: 0.5}}, got {}", describe(el.node)));
      }
      YAML::Node between_key, between, r_key, r;
      bool have_between = false, have_r = false;
      for (auto kv = el.node.begin(); kv != el.node.end(); ++kv) {
        const std::string& key = kv->first.Scalar();
        if (key == "between") {
          between_key.reset(kv->first), between.reset(kv->second), have_between = true;
        } else if (key == "r") {
          r_key.reset(kv->first), r.reset(kv->second), have_r = true;
        } else {
          std::string hint = suggestion(key, kCorrelationPairKeys);
          if (hint.empty()) hint = " (a pair takes: between, r)";
          fail_at(el.path, kv->first.Mark(), label, fmt::format("unknown key '{}'{}", key, hint));
        }
      }
      if (!have_between) fail_el(el, label, "missing 'between' (two parameter names)");
      if (!have_r) fail_el(el, label, "missing 'r' (their correlation, in [-1, 1])");
      auto mark_of = [&](const YAML::Node& key, const YAML::Node& value) {
        return value.IsNull() || value.Mark().is_null() ? key.Mark() : value.Mark();
      };
      const Item between_item{between, el.path, mark_of(between_key, between)};
      const std::string between_label = label + ".between";
      if (!between.IsSequence() || between.size() != 2) {
        fail_el(between_item, between_label,
                fmt::format("expected two parameter names such as [a, c], got {}",
                            between.IsSequence() ? fmt::format("{} entries", between.size())
                                                 : describe(between)));
      }
      const std::vector<Item> ends = elements(between_item);
      std::string end_names[2];
      int end_index[2];
      for (int e = 0; e < 2; ++e) {
        const std::string end_label = fmt::format("{}[{}]", between_label, e);
        end_names[e] = name_of(ends[static_cast<std::size_t>(e)], end_label);
        end_index[e] = index_of(end_names[e]);
        if (end_index[e] < 0) {
          read.names.push_back({ends[static_cast<std::size_t>(e)], end_label});
          end_index[e] = static_cast<int>(read.names.size()) - 1;
        }
      }
      if (end_names[0] == end_names[1]) {
        fail_el(
            between_item, between_label,
            fmt::format("'{}' twice: a parameter's correlation with itself is 1", end_names[0]));
      }
      for (std::size_t q = 0; q < given.size(); ++q) {
        const bool same = (given[q].i == end_index[0] && given[q].j == end_index[1]) ||
                          (given[q].i == end_index[1] && given[q].j == end_index[0]);
        if (same) {
          fail_el(between_item, between_label,
                  fmt::format("the pair {}, {} is given twice (also in pairs[{}])", end_names[0],
                              end_names[1], q));
        }
      }
      const Item r_item{r, el.path, mark_of(r_key, r)};
      const double v = correlation_value(r_item, label + ".r", end_names[0], end_names[1]);
      given.push_back({end_index[0], end_index[1], v});
    }
    const std::size_t n = read.names.size();
    read.r.assign(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) read.r[i * n + i] = 1.0;
    for (const Pair& p : given) {
      read.r[static_cast<std::size_t>(p.i) * n + static_cast<std::size_t>(p.j)] = p.r;
      read.r[static_cast<std::size_t>(p.j) * n + static_cast<std::size_t>(p.i)] = p.r;
    }
    whole = pairs;
  }

  // Positive definite: some joint normal has these correlations.
  const std::size_t n = read.names.size();
  std::vector<double> l(n * n);
  double det = 0;
  const int bad = cholesky_factor(static_cast<int>(n), read.r.data(), l.data(), &det);
  if (bad >= 0) {
    std::vector<std::string> over;
    bool unit = false;  // a correlation of +-1 in the failing block
    for (int i = 0; i <= bad; ++i) {
      over.push_back(read.names[static_cast<std::size_t>(i)].item.node.Scalar());
      for (int j = 0; j < i; ++j) {
        unit =
            unit ||
            std::fabs(read.r[static_cast<std::size_t>(i) * n + static_cast<std::size_t>(j)]) == 1.0;
      }
    }
    fail(whole, fmt::format("the correlation matrix is not positive definite: its leading "
                            "{0}x{0} minor, over {1}, has determinant {2:.3g}{3}",
                            bad + 1, join(over, ", "), det,
                            unit ? " (a correlation of 1 or -1 makes it singular; use e.g. 0.99)"
                                 : " (these correlations contradict each other)"));
  }
  read.at = it;
  corr_ = read;
  have_corr_ = true;
}

// The checks that need the parameters; fills cfg.correlation.
void Reader::check_correlation(Config& cfg) {
  cfg.correlation = CorrelationConfig{};
  if (!have_corr_) return;
  const char* slot_names[kNumSlots] = {
      "a", "b", "c", "A1", cfg.a2_is_gap ? "A2_gap" : "A2", cfg.a2p_is_theta ? "theta" : "A2p"};
  const std::size_t n = corr_.names.size();
  std::vector<int> slot(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Item& el = corr_.names[i].item;
    const std::string& label = corr_.names[i].label;
    const std::string& name = el.node.Scalar();
    int s = -1;
    for (int k = 0; k < kNumSlots; ++k) {
      if (name == slot_names[k]) s = k;
    }
    if (s < 0) {
      const std::string given =
          name == "A2" || name == "A2_gap" ? slot_names[S_A2] : slot_names[S_A2p];
      fail_at(el.path, el.mark, label,
              fmt::format("'{}' is not a parameter of this config, which gives '{}' instead; "
                          "name it as 'parameters' does",
                          name, given));
    }
    const Dist& d = cfg.dist[s];
    if (d.kind == DistKind::fixed) {
      fail_at(el.path, el.mark, label,
              fmt::format("'{}' is fixed ({}): only sampled parameters can be correlated", name,
                          format_number(d.p0)));
    }
    if (d.kind == DistKind::beta) {
      fail_at(el.path, el.mark, label,
              fmt::format("'{}' has a beta distribution, which correlation does not support: "
                          "beta is sampled from several uniforms (order statistics or gamma "
                          "variates), not by inverting its CDF. Correlated parameters take "
                          "uniform, normal, truncnormal, lognormal or triangular",
                          name));
    }
    for (const auto& axis : cfg.sweep.axes) {
      const bool same_slot = axis.name == name ||
                             (s == S_A2 && (axis.name == "A2" || axis.name == "A2_gap")) ||
                             (s == S_A2p && (axis.name == "A2p" || axis.name == "theta"));
      if (same_slot) {
        fail_at(el.path, el.mark, label,
                fmt::format("'{}' is a sweep axis (fixed in each cell): only sampled parameters "
                            "can be correlated",
                            name));
      }
    }
    slot[i] = s;
  }
  CorrelationConfig c;
  for (int s = 0; s < kNumSlots; ++s) c.r[s][s] = 1.0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      if (i != j && corr_.r[i * n + j] != 0.0) {
        c.r[slot[i]][slot[j]] = corr_.r[i * n + j];
        c.enabled = true;
      }
    }
  }
  if (!c.enabled) return;  // all zero: independent, as without the key
  if (cfg.sensitivity.enabled) {
    fail(corr_.at,
         "cannot be combined with 'sensitivity': its Sobol indices (pick-freeze, "
         "which mixes parameters of different draws) assume independent inputs");
  }
  // In slot order, as the run factors it; only rounding at the edge of
  // positive definiteness could make this fail where the check above passed.
  double l[kNumSlots * kNumSlots];
  if (cholesky_factor(kNumSlots, &c.r[0][0], l) >= 0) {
    fail(corr_.at,
         "the correlation matrix is too close to singular (not positive definite "
         "once put in parameter order)");
  }
  cfg.correlation = c;
}

// Only when used (plain configs keep their text); the pairs form, in slot
// order, whatever form the file used.
std::string correlation_yaml(const Config& cfg) {
  if (!cfg.correlation.enabled) return {};
  const char* names[kNumSlots] = {
      "a", "b", "c", "A1", cfg.a2_is_gap ? "A2_gap" : "A2", cfg.a2p_is_theta ? "theta" : "A2p"};
  std::string out = "correlation:\n  pairs:\n";
  for (int i = 0; i < kNumSlots; ++i) {
    for (int j = i + 1; j < kNumSlots; ++j) {
      const double r = cfg.correlation.r[i][j];
      if (r != 0.0) {
        out += fmt::format("    - {{between: [{}, {}], r: {}}}\n", names[i], names[j],
                           format_number(r));
      }
    }
  }
  return out;
}

// --- sensitivity (issue 4) -------------------------------------------------

void Reader::read_sensitivity(const Item& it, Config& cfg) {
  require_value(it);
  if (!it.node.IsMap()) {
    fail(it, fmt::format("expected a map such as {{outputs: [q11, leader_gains], base_draws: "
                         "100000}}, got {}",
                         describe(it.node)));
  }
  const std::vector<std::string> keys = {"outputs", "base_draws"};
  SensitivityConfig s;
  s.enabled = true;
  bool have_outputs = false, have_base = false;
  for (auto kv = it.node.begin(); kv != it.node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    const Item item = child(it, kv->first, kv->second);
    if (key == "base_draws") {
      s.base_draws = integer(item, 2, kMaxBaseDraws, "an integer >= 2");
      have_base = true;
    } else if (key == "outputs") {
      require_value(item);
      if (!item.node.IsSequence()) {
        fail(item, fmt::format("expected a list of outputs such as [q11, leader_gains], got {}",
                               describe(item.node)));
      }
      if (item.node.size() == 0) fail(item, "must name at least one output");
      const std::vector<std::string> known = sensitivity_output_names();
      std::size_t i = 0;
      for (const auto& elem : item.node) {
        const Item e{elem, fmt::format("{}[{}]", item.path, i++),
                     elem.Mark().is_null() ? item.mark : elem.Mark()};
        require_value(e);
        if (!e.node.IsScalar()) {
          fail(e, fmt::format("expected an output name, got {}", describe(e.node)));
        }
        const std::string& name = e.node.Scalar();
        if (name == "A2_crit") {
          fail(e,
               "A2_crit cannot be a sensitivity output: it is undefined in draws with "
               "d + A1 <= 0, and Sobol indices need the output in every draw");
        }
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          std::string hint = suggestion(name, known);
          if (hint.empty()) hint = fmt::format(" (outputs are {})", join(known, ", "));
          fail(e, fmt::format("unknown output '{}'{}", name, hint));
        }
        if (std::find(s.outputs.begin(), s.outputs.end(), name) != s.outputs.end()) {
          fail(e, fmt::format("output '{}' is listed twice", name));
        }
        s.outputs.push_back(name);
      }
      have_outputs = true;
    } else {
      std::string hint = suggestion(key, keys);
      if (hint.empty()) hint = " (sensitivity takes: outputs, base_draws)";
      unknown_key(it, kv->first, hint);
    }
  }
  if (!have_outputs) fail(it, "missing 'outputs' (a list of fields or events, e.g. [q11])");
  if (!have_base) fail(it, "missing 'base_draws' (an integer >= 2)");
  cfg.sensitivity = s;
}

// Only when used, so configs without it keep their text (and hash).
std::string sensitivity_yaml(const Config& cfg) {
  if (!cfg.sensitivity.enabled) return {};
  return fmt::format("sensitivity:\n  outputs: [{}]\n  base_draws: {}\n",
                     join(cfg.sensitivity.outputs, ", "), cfg.sensitivity.base_draws);
}

// --- paths (issue 4) -------------------------------------------------------

// Defined below with effective_yaml's other helpers.
std::string dist_yaml(const Dist& d);

const std::vector<std::string> kPathKeys = {"name", "cost", "p_success", "theta_success",
                                            "theta_failure"};

void Reader::check_path_text(const Item& it) const {
  const std::string& s = it.node.Scalar();
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      fail(it,
           fmt::format("must not contain control characters such as {} (got {})",
                       u == 0 ? std::string("NUL") : fmt::format("\\x{:02x}", u), yaml_quoted(s)));
    }
  }
}

bool is_identifier(const std::string& s) {
  auto alpha = [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)) || ch == '_'; };
  if (s.empty() || !alpha(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char ch) {
    return alpha(ch) || std::isdigit(static_cast<unsigned char>(ch));
  });
}

void Reader::read_paths(const Item& it, Config& cfg) {
  require_value(it);
  const char* example =
      "[{name: absorb_spillover, cost: 0.1, p_success: 0.8, theta_success: 0.5}, ...]";
  if (!it.node.IsSequence()) {
    fail(it,
         fmt::format("expected a list of paths such as {}, got {}", example, describe(it.node)));
  }
  if (it.node.size() == 0) fail(it, fmt::format("is empty; give at least one path: {}", example));
  if (it.node.size() > static_cast<std::size_t>(kMaxPaths)) {
    fail(it, fmt::format("at most {} paths (got {})", kMaxPaths, it.node.size()));
  }
  std::vector<PathConfig> paths;
  std::size_t index = 0;
  for (const auto& elem : it.node) {
    const Item path_item{elem, child_path(it.path, std::to_string(index)),
                         elem.Mark().is_null() ? it.mark : elem.Mark()};
    ++index;
    require_value(path_item);
    if (!path_item.node.IsMap()) {
      fail(path_item, fmt::format("expected a map such as {{name: ..., cost: ..., p_success: ..., "
                                  "theta_success: ...}}, got {}",
                                  describe(path_item.node)));
    }
    PathConfig pc;
    pc.theta_failure = Dist{};  // fixed 0: no upgrade when the path fails
    bool have[5] = {};
    for (auto kv = path_item.node.begin(); kv != path_item.node.end(); ++kv) {
      const std::string& key = kv->first.Scalar();
      const auto at = std::find(kPathKeys.begin(), kPathKeys.end(), key);
      if (at == kPathKeys.end()) {
        std::string hint = suggestion(key, kPathKeys);
        if (hint.empty()) hint = fmt::format(" (a path takes {})", join(kPathKeys, ", "));
        unknown_key(path_item, kv->first, hint);
      }
      have[at - kPathKeys.begin()] = true;
      const Item item = child(path_item, kv->first, kv->second);
      if (key == "name") {
        require_value(item);
        if (!item.node.IsScalar() || !is_identifier(item.node.Scalar())) {
          fail(item, fmt::format("must be a name of letters, digits and '_' not starting with a "
                                 "digit (got {})",
                                 describe(item.node)));
        }
        pc.name = item.node.Scalar();
        for (std::size_t j = 0; j < paths.size(); ++j) {
          if (paths[j].name == pc.name) {
            fail(item, fmt::format("duplicate path name '{}' (also {}.{})", pc.name, it.path, j));
          }
        }
      } else if (key == "cost") {
        pc.cost = distribution(item, false);
      } else if (key == "p_success") {
        pc.p_success = distribution(item, false);
        check_probability(item, pc.p_success);
      } else if (key == "theta_success") {
        pc.theta_success = distribution(item, true);
      } else {
        pc.theta_failure = distribution(item, true);
      }
    }
    std::vector<std::string> missing;
    for (std::size_t k = 0; k < 4; ++k) {
      if (!have[k]) missing.push_back(fmt::format("'{}'", kPathKeys[k]));
    }
    if (!missing.empty()) {
      fail(path_item,
           fmt::format("missing {} (theta_failure is optional, default 0)", join(missing, ", ")));
    }
    paths.push_back(pc);
  }
  cfg.paths = std::move(paths);
}

// p_success must stay in [0, 1] whatever is drawn: its distribution's support
// must, as for theta.
void Reader::check_probability(const Item& it, const Dist& d) const {
  double lo = 0, hi = 0;
  switch (d.kind) {
    case DistKind::fixed:
      lo = hi = d.p0;
      break;
    case DistKind::uniform:
      lo = d.p0, hi = d.p1;
      break;
    case DistKind::triangular:
      lo = d.p0, hi = d.p2;
      break;
    case DistKind::truncnormal:
    case DistKind::beta:
      lo = d.p2, hi = d.p3;
      break;
    case DistKind::normal:
    case DistKind::lognormal:
      fail(it, fmt::format("a {} distribution is unbounded, but p_success is a probability and "
                           "must stay in [0, 1]; use fixed, uniform, beta, triangular or "
                           "truncnormal",
                           to_string(d.kind)));
  }
  if (lo < 0 || hi > 1) {
    fail(it, fmt::format("p_success is a probability and must stay in [0, 1], but {} leaves it",
                         lo == hi ? format_number(lo)
                                  : fmt::format("the support [{}, {}]", format_number(lo),
                                                format_number(hi))));
  }
}

}  // namespace

PathsSpec paths_spec(const Config& cfg) {
  // read_paths enforces the limit; a Config built in code may not have.
  if (cfg.paths.size() > static_cast<std::size_t>(kMaxPaths)) {
    throw InputError(fmt::format("paths: at most {} paths (got {})", kMaxPaths, cfg.paths.size()));
  }
  PathsSpec spec;
  spec.n = static_cast<int>(cfg.paths.size());
  for (int k = 0; k < spec.n; ++k) {
    const PathConfig& p = cfg.paths[static_cast<std::size_t>(k)];
    spec.cost[k] = prepared(p.cost);
    spec.p_success[k] = prepared(p.p_success);
    spec.theta_success[k] = prepared(p.theta_success);
    spec.theta_failure[k] = prepared(p.theta_failure);
  }
  return spec;
}

namespace {

std::string paths_yaml(const Config& cfg) {
  if (cfg.paths.empty()) return {};
  std::string out = "paths:\n";
  for (const auto& p : cfg.paths) {
    // Quoted: a name such as 'null' or 'true' must read back as that text.
    out += fmt::format("  - name: {}\n", yaml_quoted(p.name));
    out += fmt::format("    cost: {}\n", dist_yaml(p.cost));
    out += fmt::format("    p_success: {}\n", dist_yaml(p.p_success));
    out += fmt::format("    theta_success: {}\n", dist_yaml(p.theta_success));
    out += fmt::format("    theta_failure: {}\n", dist_yaml(p.theta_failure));
  }
  return out;
}

// --- sweep, histograms, conditions, output.draws (issues 3, 4) -------------

void Reader::read_sweep(const Item& it, Config& cfg) {
  require_value(it);
  if (!it.node.IsMap())
    fail(it, fmt::format("expected a map {{axes: [...], draws_per_cell: N}}, got {}",
                         describe(it.node)));
  bool have_axes = false, have_dpc = false;
  for (auto kv = it.node.begin(); kv != it.node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    const Item item = child(it, kv->first, kv->second);
    if (key == "draws_per_cell") {
      cfg.sweep.draws_per_cell = integer(item, 1, kMaxDraws, "an integer >= 1");
      have_dpc = true;
    } else if (key == "axes") {
      require_value(item);
      if (!item.node.IsSequence() || item.node.size() < 1 || item.node.size() > 3)
        fail(item, fmt::format("expected a list of 1 to 3 axes, got {}", describe(item.node)));
      for (std::size_t i = 0; i < item.node.size(); ++i) {
        const Item ax{item.node[i], fmt::format("{}[{}]", item.path, i), item.node[i].Mark()};
        cfg.sweep.axes.push_back(read_axis(ax));
      }
      have_axes = true;
    } else {
      std::string hint = suggestion(key, {"axes", "draws_per_cell"});
      if (hint.empty()) hint = " (sweep takes: axes, draws_per_cell)";
      unknown_key(it, kv->first, hint);
    }
  }
  if (!have_axes) fail(it, "missing 'axes' (a list of {param: NAME, linspace: [lo, hi, n]} ...)");
  if (!have_dpc) fail(it, "missing 'draws_per_cell' (Monte Carlo draws in each cell, >= 1)");
  std::uint64_t cells = 1;
  for (const auto& a : cfg.sweep.axes) cells *= a.values.size();
  if (cells > kMaxSweepCells)
    fail(it, fmt::format("{} cells is more than the {} a sweep may have", cells, kMaxSweepCells));
  if (cfg.sweep.draws_per_cell > kMaxDraws / cells)
    fail(it, fmt::format("{} cells x {} draws_per_cell is {} draws, more than the {} (2^47) a run "
                         "may have",
                         cells, cfg.sweep.draws_per_cell,
                         format_number(static_cast<double>(cells) *
                                       static_cast<double>(cfg.sweep.draws_per_cell)),
                         kMaxDraws));
}

SweepAxis Reader::read_axis(const Item& ax) {
  require_value(ax);
  if (!ax.node.IsMap())
    fail(ax,
         fmt::format("expected {{param: NAME, linspace: [lo, hi, n]}}, got {}", describe(ax.node)));
  SweepAxis a;
  bool have_param = false;
  for (auto kv = ax.node.begin(); kv != ax.node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    const Item item = child(ax, kv->first, kv->second);
    if (key == "param") {
      a.name = choice(item, kParamKeys);
      have_param = true;
    } else if (key == "linspace" || key == "logspace") {
      if (!a.spacing.empty())
        fail(item, fmt::format("give one of linspace, logspace, values ({} "
                               "already given)",
                               a.spacing));
      a.spacing = key;
      if (!item.node.IsSequence() || item.node.size() != 3)
        fail(item, fmt::format("expected [lo, hi, n], got {}", describe(item.node)));
      const Item lo_it{item.node[0], item.path + "[0]", item.node[0].Mark()};
      const Item hi_it{item.node[1], item.path + "[1]", item.node[1].Mark()};
      const Item n_it{item.node[2], item.path + "[2]", item.node[2].Mark()};
      const double lo = number(lo_it), hi = number(hi_it);
      const auto n = integer(n_it, 1, kMaxSweepCells, "an integer >= 1");
      if (key == "logspace" && !(lo > 0 && hi > 0))
        fail(item, fmt::format("logspace needs lo > 0 and hi > 0 (got {}, {})", format_number(lo),
                               format_number(hi)));
      for (std::uint64_t i = 0; i < n; ++i) {
        const double t = n == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n - 1);
        double v = key == "linspace" ? lo + t * (hi - lo)
                                     : std::exp(std::log(lo) + t * (std::log(hi) - std::log(lo)));
        if (i + 1 == n && n > 1) v = hi;  // the end point exactly
        if (i == 0) v = lo;
        a.values.push_back(v);
      }
    } else if (key == "values") {
      if (!a.spacing.empty())
        fail(item, fmt::format("give one of linspace, logspace, values ({} "
                               "already given)",
                               a.spacing));
      a.spacing = key;
      if (!item.node.IsSequence() || item.node.size() == 0)
        fail(item,
             fmt::format("expected a non-empty list of numbers, got {}", describe(item.node)));
      for (std::size_t i = 0; i < item.node.size(); ++i)
        a.values.push_back(
            number(Item{item.node[i], fmt::format("{}[{}]", item.path, i), item.node[i].Mark()}));
    } else {
      std::string hint = suggestion(key, {"param", "linspace", "logspace", "values"});
      if (hint.empty()) hint = " (an axis takes: param, and one of linspace, logspace, values)";
      unknown_key(ax, kv->first, hint);
    }
  }
  if (!have_param) fail(ax, "missing 'param' (a, b, c, A1, A2, A2_gap, A2p or theta)");
  if (a.spacing.empty()) fail(ax, "missing the axis values: linspace, logspace or values");
  for (double v : a.values) {
    if (!std::isfinite(v)) fail(ax, "axis values must be finite");
    if (a.name == "theta" && (v < 0 || v > 1))
      fail(ax, fmt::format("theta must lie in [0, 1] (got {})", format_number(v)));
  }
  return a;
}

void Reader::read_histograms(const Item& it, Config& cfg) {
  require_value(it);
  HistogramConfig& h = cfg.histograms;
  h.explicitly_set = true;
  if (it.node.IsScalar() && (it.node.Scalar() == "false" || it.node.Scalar() == "true")) {
    h.enabled = it.node.Scalar() == "true";
    return;
  }
  if (!it.node.IsMap())
    fail(it, fmt::format("expected false or a map {{bins: N, fields: [...], range: {{FIELD: [lo, "
                         "hi]}}}}, got {}",
                         describe(it.node)));
  h.enabled = true;
  std::vector<std::string> fields(std::begin(kFieldNames), std::end(kFieldNames));
  for (auto kv = it.node.begin(); kv != it.node.end(); ++kv) {
    const std::string& key = kv->first.Scalar();
    const Item item = child(it, kv->first, kv->second);
    if (key == "bins") {
      h.bins = static_cast<int>(integer(item, 1, kMaxHistogramBins, "an integer >= 1"));
    } else if (key == "fields") {
      h.fields = name_list(item, fields, "field");
    } else if (key == "range") {
      require_value(item);
      if (!item.node.IsMap())
        fail(item, fmt::format("expected a map {{FIELD: [lo, hi]}}, got {}", describe(item.node)));
      for (auto r = item.node.begin(); r != item.node.end(); ++r) {
        const Item ri = child(item, r->first, r->second);
        const auto f = std::find(fields.begin(), fields.end(), r->first.Scalar());
        if (f == fields.end()) unknown_key(item, r->first, suggestion(r->first.Scalar(), fields));
        if (!ri.node.IsSequence() || ri.node.size() != 2)
          fail(ri, fmt::format("expected [lo, hi], got {}", describe(ri.node)));
        const double lo = number(Item{ri.node[0], ri.path + "[0]", ri.node[0].Mark()});
        const double hi = number(Item{ri.node[1], ri.path + "[1]", ri.node[1].Mark()});
        if (!(lo < hi) || !std::isfinite(hi - lo))
          fail(ri, fmt::format("needs lo < hi with a finite width (got [{}, {}])",
                               format_number(lo), format_number(hi)));
        h.ranges.push_back({static_cast<int>(f - fields.begin()), {lo, hi}});
      }
    } else {
      std::string hint = suggestion(key, {"bins", "fields", "range"});
      if (hint.empty()) hint = " (histograms takes: bins, fields, range)";
      unknown_key(it, kv->first, hint);
    }
  }
}

void Reader::read_conditions(const Item& it, Config& cfg) {
  std::vector<std::string> names;
  for (const char* e : kEventNames) names.push_back(e);
  for (const char* e : kEventNames) names.push_back(std::string("not_") + e);
  for (int i : name_list(it, names, "event")) {
    Condition c;
    c.event = i % kNumEvents;
    c.negated = i >= kNumEvents;
    cfg.conditions.push_back(c);
  }
}

std::vector<int> Reader::name_list(const Item& it, const std::vector<std::string>& known,
                                   const char* what) const {
  const Reader& r = *this;
  r.require_value(it);
  if (!it.node.IsSequence() || it.node.size() == 0)
    r.fail(it,
           fmt::format("expected a non-empty list of {} names, got {}", what, describe(it.node)));
  std::vector<int> out;
  for (std::size_t i = 0; i < it.node.size(); ++i) {
    const Item e{it.node[i], fmt::format("{}[{}]", it.path, i), it.node[i].Mark()};
    const std::string name = e.node.IsScalar() ? e.node.Scalar() : std::string();
    const auto f = std::find(known.begin(), known.end(), name);
    if (f == known.end())
      r.fail(e, fmt::format("unknown {} {}{}", what, describe(e.node), suggestion(name, known)));
    const int idx = static_cast<int>(f - known.begin());
    if (std::find(out.begin(), out.end(), idx) != out.end())
      r.fail(e, fmt::format("{} '{}' is listed twice", what, name));
    out.push_back(idx);
  }
  return out;
}
// --- output.draws (issue 3) -------------------------------------------------
// The default field list: the parameters and the main outputs (docs/config.md).
const std::vector<int> kDefaultDrawFields = {
    F_a,    F_b,    F_c,       F_A1,      F_A2,           F_A2p,    F_pi11,
    F_pi12, F_pi22, F_pi12_up, F_pi22_up, F_upgrade_gain, F_A2_crit};

// `out` is the whole output: map; draws, fields and compression are read
// together because fields and compression mean nothing without draws.
void Reader::read_draws_output(const Item& out, Config& cfg) {
  DrawsOutputConfig& d = cfg.draws_output;
  d = DrawsOutputConfig{};
  auto find = [&](const char* name, Item& item) {
    YAML::Node k, v;
    if (!find_key(out.node, name, k, v)) return false;
    item = child(out, k, v);
    return true;
  };
  Item draws, fields, compression;
  const bool have_draws = find("draws", draws);
  const bool have_fields = find("fields", fields);
  const bool have_compression = find("compression", compression);
  if (!have_draws) {
    const char* need = "needs 'output.draws' (all, {first: N} or {every: K})";
    if (have_fields) fail(fields, need);
    if (have_compression) fail(compression, need);
    return;
  }
  require_value(draws);
  const char* shapes = "all, {first: N} or {every: K}";
  if (draws.node.IsScalar()) {
    if (draws.node.Scalar() != "all") {
      fail(draws, fmt::format("expected {}, got {}{}", shapes, describe(draws.node),
                              suggestion(draws.node.Scalar(), {"all", "first", "every"})));
    }
    d.select = DrawSelect::all;
  } else if (draws.node.IsMap()) {
    if (draws.node.size() != 1) {
      fail(draws, fmt::format("give exactly one of 'first' and 'every' (expected {})", shapes));
    }
    const auto kv = draws.node.begin();
    const std::string& key = kv->first.Scalar();
    if (key != "first" && key != "every") {
      std::string hint = suggestion(key, {"first", "every"});
      if (hint.empty()) hint = fmt::format(" (expected {})", shapes);
      unknown_key(draws, kv->first, hint);
    }
    d.select = key == "first" ? DrawSelect::first : DrawSelect::every;
    d.n = integer(child(draws, kv->first, kv->second), 1, UINT64_MAX, "an integer >= 1");
  } else {
    fail(draws, fmt::format("expected {}, got {}", shapes, describe(draws.node)));
  }

  if (have_fields) {
    require_value(fields);
    if (!fields.node.IsSequence() || fields.node.size() == 0) {
      fail(fields, fmt::format("expected a non-empty list of field names such as [a, b, pi12], "
                               "got {}",
                               describe(fields.node)));
    }
    const std::vector<std::string> names(kFieldNames, kFieldNames + kNumFields);
    std::size_t i = 0;
    for (const auto& elem : fields.node) {
      const Item it{elem, fmt::format("{}[{}]", fields.path, i++), elem.Mark()};
      require_value(it);
      const auto at = it.node.IsScalar() ? std::find(names.begin(), names.end(), it.node.Scalar())
                                         : names.end();
      if (at == names.end()) {
        fail(it, fmt::format("unknown field {}{}; fields are {}", describe(it.node),
                             it.node.IsScalar() ? suggestion(it.node.Scalar(), names) : "",
                             join(names, ", ")));
      }
      const int f = static_cast<int>(at - names.begin());
      if (std::find(d.fields.begin(), d.fields.end(), f) != d.fields.end()) {
        fail(it, fmt::format("field '{}' is listed twice", kFieldNames[f]));
      }
      d.fields.push_back(f);
    }
  } else {
    d.fields = kDefaultDrawFields;
  }
  if (have_compression) d.compress = choice(compression, {"none", "deflate"}) == "deflate";
}
void Reader::check_combinations(const YAML::Node& root, Config& cfg) {
  check_correlation(cfg);
  const Item top{root, "", root.Mark()};
  const auto item_of = [&](const char* key) {
    YAML::Node k, v;
    find_key(root, key, k, v);
    return child(top, k, v);
  };
  if (!cfg.sweep.axes.empty()) {
    const auto slot = [](const std::string& n) {
      return n == "A2_gap" ? std::string("A2") : n == "theta" ? std::string("A2p") : n;
    };
    for (std::size_t i = 0; i < cfg.sweep.axes.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (slot(cfg.sweep.axes[i].name) == slot(cfg.sweep.axes[j].name))
          fail(item_of("sweep"), fmt::format("axes '{}' and '{}' set the same parameter",
                                             cfg.sweep.axes[j].name, cfg.sweep.axes[i].name));
    if (!cfg.conditions.empty())
      fail(item_of("conditions"),
           "conditions are not computed per sweep cell in this version: "
           "run the cell alone (docs/sweeps.md)");
    if (cfg.histograms.explicitly_set && cfg.histograms.enabled)
      fail(item_of("histograms"),
           "histograms are not kept per sweep cell (memory grows with the "
           "cell count); run a cell alone for its quantiles");
    cfg.histograms.enabled = false;
    if (cfg.draws_output.select != DrawSelect::none)
      fail(item_of("output"), "output.draws is not available for sweeps in this version");
  }
  if (cfg.histograms.enabled && cfg.histograms.fields.empty())
    for (int f = kNumParams; f < kNumFields; ++f) cfg.histograms.fields.push_back(f);
  if (!cfg.histograms.enabled) cfg.histograms.fields.clear();
  if (check_memory_) check_state_size(root, cfg);
}

void Reader::check_state_size(const YAML::Node& root, const Config& cfg) {
  const bool sweep = !cfg.sweep.axes.empty();
  const std::uint64_t cells = sweep ? cfg.sweep.cells() : 1;
  const std::uint64_t draws = sweep ? cfg.sweep.draws_per_cell : cfg.draws;
  // Per segment: its Tally and, with conditions or paths, its Extra
  // (Extra::byte_size). Histogram counts are kept once for the whole run.
  std::uint64_t extra = 0;
  std::vector<std::string> parts;
  const std::uint64_t hist_fields = cfg.histograms.enabled ? cfg.histograms.fields.size() : 0;
  const std::uint64_t hist_bytes =
      hist_fields * (static_cast<std::uint64_t>(cfg.histograms.bins) + 2) * 8;
  if (!cfg.conditions.empty()) {
    extra += cfg.conditions.size() * sizeof(Tally);
    parts.push_back(fmt::format("{} conditions", cfg.conditions.size()));
  }
  if (!cfg.paths.empty()) {
    extra += cfg.paths.size() * (sizeof(Moments) + 8) + 8;
    parts.push_back(fmt::format("{} paths", cfg.paths.size()));
  }
  const std::uint64_t segment_bytes = sizeof(Tally) + extra;
  const std::uint64_t segments = draws / kSegmentDraws + (draws % kSegmentDraws != 0 ? 1 : 0);
  const std::uint64_t cell_bytes = segments * segment_bytes + (sweep ? kSweepCellBytes : 0);
  // In double: cells x cell_bytes may pass 2^64 (2^24 cells of 2^21 segments).
  const double total = static_cast<double>(cells) * static_cast<double>(cell_bytes) +
                       static_cast<double>(hist_bytes);
  if (total <= static_cast<double>(kMaxStateBytes)) return;

  const std::string what =
      parts.empty() ? std::string("its Tally")
                    : fmt::format("its Tally ({} bytes) and {}", sizeof(Tally), join(parts, ", "));
  const std::string hist_note =
      hist_bytes > 0 ? fmt::format(", besides {} bytes of histogram counts ({} fields x {} bins)",
                                   hist_bytes, hist_fields, cfg.histograms.bins)
                     : std::string();
  const double gib = total / static_cast<double>(std::uint64_t{1} << 30);
  YAML::Node key, value;
  static_assert(kNumFields * (kMaxHistogramBins + 2) * 8 < kMaxStateBytes / 2,
                "histograms alone always fit, with room for the segments");
  const std::uint64_t room = kMaxStateBytes - hist_bytes;
  if (sweep) {
    find_key(root, "sweep", key, value);
    const std::uint64_t max_cells = room / cell_bytes;
    fail(child(Item{root, "", root.Mark()}, key, value),
         fmt::format("{} cells x {} draws_per_cell would keep about {:.3g} GiB in memory, more "
                     "than the {} GiB a run may: each cell holds {} segment(s) of up to 2^26 "
                     "draws at {} bytes each ({}) and {} bytes of its own state; at most {} "
                     "cells fit at this draws_per_cell",
                     cells, draws, gib, kMaxStateBytes >> 30, segments, segment_bytes, what,
                     kSweepCellBytes, max_cells));
  }
  const std::uint64_t max_draws = room / segment_bytes * kSegmentDraws;
  const Item at = find_key(root, "draws", key, value)
                      ? child(Item{root, "", root.Mark()}, key, value)
                      : Item{root, "draws", root.Mark()};
  fail(at,
       fmt::format("{} draws would keep about {:.3g} GiB in memory, more than the {} GiB a "
                   "run may: each segment of 2^26 draws holds {} bytes ({}) until the "
                   "result is written{}; at most {} draws fit with this config",
                   draws, gib, kMaxStateBytes >> 30, segment_bytes, what, hist_note, max_draws));
}
std::string analysis_yaml(const Config& cfg) {
  std::string out;
  if (cfg.stream != 0) out += fmt::format("stream: {}\n", cfg.stream);
  if (!cfg.sweep.axes.empty()) {
    out += "sweep:\n  axes:\n";
    for (const auto& a : cfg.sweep.axes) {
      // Always as explicit values: exactly what ran, and it parses back equal.
      std::vector<std::string> v;
      for (double x : a.values) v.push_back(format_number(x));
      out += fmt::format("    - {{param: {}, values: [{}]}}\n", a.name, join(v, ", "));
    }
    out += fmt::format("  draws_per_cell: {}\n", cfg.sweep.draws_per_cell);
  }
  const HistogramConfig& h = cfg.histograms;
  if (h.explicitly_set) {
    if (!h.enabled) {
      out += "histograms: false\n";
    } else {
      std::vector<std::string> f;
      for (int i : h.fields) f.push_back(kFieldNames[i]);
      out += fmt::format("histograms:\n  bins: {}\n  fields: [{}]\n", h.bins, join(f, ", "));
      if (!h.ranges.empty()) {
        out += "  range:\n";
        for (const auto& r : h.ranges)
          out += fmt::format("    {}: [{}, {}]\n", kFieldNames[r.first],
                             format_number(r.second.first), format_number(r.second.second));
      }
    }
  }
  if (!cfg.conditions.empty()) {
    std::vector<std::string> c;
    for (const auto& x : cfg.conditions)
      c.push_back((x.negated ? std::string("not_") : std::string()) + kEventNames[x.event]);
    out += fmt::format("conditions: [{}]\n", join(c, ", "));
  }
  return out;
}
// Every key spelt out (fields too, when they are the defaults), so the file
// records exactly what was written; "" when per-draw output is off.
std::string draws_output_yaml(const Config& cfg) {
  const DrawsOutputConfig& d = cfg.draws_output;
  std::string out;
  switch (d.select) {
    case DrawSelect::none:
      return out;
    case DrawSelect::all:
      out += "  draws: all\n";
      break;
    case DrawSelect::first:
      out += fmt::format("  draws: {{first: {}}}\n", d.n);
      break;
    case DrawSelect::every:
      out += fmt::format("  draws: {{every: {}}}\n", d.n);
      break;
  }
  std::vector<std::string> names;
  for (const int f : d.fields) names.emplace_back(kFieldNames[f]);
  out += fmt::format("  fields: [{}]\n", join(names, ", "));
  out += fmt::format("  compression: {}\n", d.compress ? "deflate" : "none");
  return out;
}

std::string dist_yaml(const Dist& d) {
  for (const auto& info : dist_table()) {
    if (info.kind != d.kind) continue;
    const double p[4] = {d.p0, d.p1, d.p2, d.p3};
    std::string out = fmt::format("{{dist: {}", to_string(d.kind));
    for (std::size_t i = 0; i < info.fields.size(); ++i) {
      out += fmt::format(", {}: {}", info.fields[i], format_number(p[i]));
    }
    return out + "}";
  }
  return "{dist: unknown}";
}

}  // namespace

Override parse_override(const std::string& arg) {
  const std::size_t eq = arg.find('=');
  if (eq == std::string::npos) {
    throw InputError(
        fmt::format("--set '{}': expected KEY=VALUE, e.g. --set parameters.a.low=8", arg));
  }
  Override ov{arg.substr(0, eq), arg.substr(eq + 1), ""};
  for (const auto& p : split_key(ov.key)) {
    if (p.empty()) {
      throw InputError(fmt::format(
          "--set '{}': bad KEY '{}' (a dotted path such as parameters.a.low)", arg, ov.key));
    }
  }
  return ov;
}

namespace {

Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::vector<Override>& overrides, bool check_memory) {
  Reader reader(source_name, check_memory);
  YamlDocument doc;
  try {
    doc = load_yaml_document(yaml_text);
  } catch (const YAML::ParserException& e) {
    reader.fail_mark(e.mark, "YAML syntax error: " + e.msg);
  }
  if (doc.another)
    reader.fail_mark(*doc.another, "more than one YAML document ('---'); give one config");
  YAML::Node& root = doc.root;
  if (root.IsNull()) {
    throw InputError(
        fmt::format("{}: the config is empty (expected a map of settings such as "
                    "'draws:' and 'parameters:')",
                    source_name));
  }
  if (!root.IsMap()) {
    reader.fail_mark(root.Mark(), fmt::format("the config must be a map of settings such as "
                                              "'draws:' and 'parameters:', got {}",
                                              describe(root)));
  }
  reader.check_file_tree(root, "");
  reader.apply_overrides(root, overrides);
  return reader.read(root);
}

}  // namespace

// Without the memory check: this also reads back the configs stored in
// result files (inspect, verify, merge), which their runs have used already.
// load_config, which `run` and `validate` use, checks it.
Config parse_config_text(const std::string& yaml_text, const std::string& source_name,
                         const std::vector<Override>& overrides) {
  return parse_config(yaml_text, source_name, overrides, false);
}

Config load_config(const std::string& path, const std::vector<Override>& overrides) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    throw InputError(fmt::format("{}: cannot open config file: {}", path, std::strerror(errno)));
  }
  // At most one byte past the limit: a device such as /dev/zero never ends.
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while (text.size() <= kMaxConfigBytes &&
         (n = std::fread(buf, 1, std::min(sizeof buf, kMaxConfigBytes + 1 - text.size()), f)) > 0)
    text.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (bad) {
    throw InputError(fmt::format("{}: cannot read config file: {}", path, std::strerror(err)));
  }
  if (text.size() > kMaxConfigBytes) {
    throw InputError(fmt::format("{}: config file too large (more than {} bytes, 1 MiB)", path,
                                 kMaxConfigBytes));
  }
  return load_config_text(text, path, overrides);
}

Config load_config_text(const std::string& yaml_text, const std::string& source_name,
                        const std::vector<Override>& overrides) {
  return parse_config(yaml_text, source_name, overrides, true);
}

std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string effective_yaml(const Config& cfg) {
  std::string out;
  out += fmt::format("draws: {}\n", cfg.draws);
  out += fmt::format("seed: {}\n", cfg.seed);
  out += fmt::format("model: {}\n", to_string(cfg.model));
  out += fmt::format("backend: {}\n", to_string(cfg.backend));
  out += fmt::format("threads: {}\n", cfg.threads);
  out += "parameters:\n";
  const char* names[kNumSlots] = {
      "a", "b", "c", "A1", cfg.a2_is_gap ? "A2_gap" : "A2", cfg.a2p_is_theta ? "theta" : "A2p"};
  for (int s = 0; s < kNumSlots; ++s) {
    out += fmt::format("  {}: {}\n", names[s], dist_yaml(cfg.dist[s]));
  }
  out += "output:\n";
  out += fmt::format("  path: {}\n", yaml_quoted(cfg.output_path));
  out += draws_output_yaml(cfg);
  // Only when set: files of runs without checkpoints keep their config text.
  if (cfg.checkpoint_every > 0) {
    out += "checkpoint:\n";
    out += fmt::format("  every: {}\n", format_number(cfg.checkpoint_every));
    if (!cfg.checkpoint_path.empty())
      out += fmt::format("  path: {}\n", yaml_quoted(cfg.checkpoint_path));
  }
  // Each feature's keys, only when used, so plain configs keep their text (and hash).
  out += analysis_yaml(cfg);
  out += correlation_yaml(cfg);
  out += sensitivity_yaml(cfg);
  out += paths_yaml(cfg);
  return out;
}

}  // namespace spillmc
