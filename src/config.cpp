// YAML config: load, apply --set overrides to the tree, validate into a Config.
//
// Every error names the key path and where the offending value came from:
// FILE:LINE:COLUMN (1-based) for the file, "--set KEY" for an override. The
// checks run on the YAML tree after overrides, so a value is judged the same
// way whichever of the two gave it.
#include "spillmc/config.hpp"

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
#include <string_view>

#include <fmt/format.h>

#include "spillmc/errors.hpp"

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
  spec.stream = 0;
  return spec;
}

namespace {

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

bool has_prefix(const std::string& path, const std::string& prefix) {
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         path[prefix.size()] == '.';
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

const std::vector<std::string> kTopKeys = {
    "draws",  "seed",       "model",      "backend",     "threads",     "parameters", "output",
    "checkpoint", "stream", "sweep",      "histograms",  "conditions",  "correlation",
    "sensitivity", "paths"};
const std::vector<std::string> kParamKeys = {"a", "b", "c", "A1", "A2", "A2_gap", "A2p", "theta"};
const std::vector<std::string> kOutputKeys = {"path", "draws", "fields", "compression"};
const std::vector<std::string> kCheckpointKeys = {"every", "path"};
const std::vector<std::string> kModelNames = {"constrained", "paper"};
const std::vector<std::string> kBackendNames = {"auto", "cpu", "cuda"};

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

// How many places in the tree hold `target` (more than one: aliases).
int uses(const YAML::Node& node, const YAML::Node& target, int depth = 0) {
  if (node.is(target)) return 1;  // the same node below it would be a cycle
  if (depth > 32 || !(node.IsMap() || node.IsSequence())) return 0;
  int n = 0;
  if (node.IsMap()) {
    for (auto kv = node.begin(); kv != node.end(); ++kv) n += uses(kv->second, target, depth + 1);
  } else {
    for (const auto& elem : node) n += uses(elem, target, depth + 1);
  }
  return n;
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
  explicit Reader(std::string source) : source_(std::move(source)) {}

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
    if (!mark.is_null()) return fmt::format("{}:{}:{}", source_, mark.line + 1, mark.column + 1);
    for (const auto& a : live_) {
      if (has_prefix(a.path, path)) {
        from_override = true;
        return a.label;
      }
    }
    return source_;
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
  void read_histograms(const Item& it, Config& cfg);
  void read_conditions(const Item& it, Config& cfg);
  void read_draws_output(const Item& out, Config& cfg);
  void read_correlation(const Item& it, Config& cfg);
  void read_sensitivity(const Item& it, Config& cfg);
  void read_paths(const Item& it, Config& cfg);
  // Cross-key checks once everything is read (e.g. a sweep axis must name a
  // parameter the config gives, correlation needs sampled parameters).
  void check_combinations(const YAML::Node& root, Config& cfg);

  std::string source_;
  std::vector<Applied> live_;     // overrides whose values are in the tree now
  std::vector<Applied> applied_;  // every override applied, deletions included
};

void Reader::check_file_tree(const YAML::Node& node, const std::string& path, int depth) {
  // A config is three levels deep; an alias can make a node contain itself
  // (&x [*x]), so stop long before the stack does.
  if (depth > 32) fail_mark(node.Mark(), fmt::format("{}: nested too deeply", path));
  if (node.IsSequence()) {
    for (const auto& elem : node) check_file_tree(elem, path, depth + 1);
    return;
  }
  if (!node.IsMap()) return;
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
}

void Reader::apply_overrides(YAML::Node& root, const std::vector<Override>& overrides) {
  for (const auto& ov : overrides) {
    const std::vector<std::string> parts = split_key(ov.key);
    for (const auto& p : parts) {
      if (p.empty()) {
        throw InputError(fmt::format("--set {}: bad key (empty part between dots)", ov.key));
      }
    }
    const std::string head = ov.origin.empty() ? "--set " + ov.key : ov.origin;
    if (trim(ov.value).empty()) {
      throw InputError(fmt::format(
          "{}: empty value (write '~' to delete the key, '\"\"' for an empty string)", head));
    }
    YAML::Node value;  // note: Node's operator= writes through; reset() rebinds
    try {
      value.reset(YAML::Load(ov.value));
    } catch (const YAML::ParserException& e) {
      throw InputError(fmt::format("{}: cannot parse value '{}' as YAML (column {}): {}", head,
                                   ov.value, e.mark.column + 1, e.msg));
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
        // that the other key keeps its value. The copy has no file marks.
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
    case DistKind::truncnormal:
      positive(1), ordered(2, 3), lo = 2, hi = 3;
      break;
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
      cfg.draws = integer(item, 1, UINT64_MAX, "an integer >= 1");
    } else if (key == "seed") {
      cfg.seed = integer(item, 0, UINT64_MAX, "an integer in [0, 2^64-1]");
    } else if (key == "threads") {
      cfg.threads = static_cast<int>(integer(item, 0, INT_MAX, "an integer >= 0 (0: all cores)"));
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
      cfg.stream = static_cast<std::uint32_t>(
          integer(item, 0, UINT32_MAX, "an integer in [0, 2^32-1]"));
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

void Reader::read_correlation(const Item& it, Config&) { fail(it, "is not supported yet"); }

std::string correlation_yaml(const Config&) { return {}; }

// --- sensitivity (issue 4) -------------------------------------------------

void Reader::read_sensitivity(const Item& it, Config&) { fail(it, "is not supported yet"); }

std::string sensitivity_yaml(const Config&) { return {}; }

// --- paths (issue 4) -------------------------------------------------------

void Reader::read_paths(const Item& it, Config&) { fail(it, "is not supported yet"); }

std::string paths_yaml(const Config&) { return {}; }

// --- sweep, histograms, conditions, output.draws (issues 3, 4) -------------

void Reader::read_sweep(const Item& it, Config&) { fail(it, "is not supported yet"); }
void Reader::read_histograms(const Item& it, Config&) { fail(it, "is not supported yet"); }
void Reader::read_conditions(const Item& it, Config&) { fail(it, "is not supported yet"); }
void Reader::read_draws_output(const Item& it, Config&) { fail(it, "is not supported yet"); }
void Reader::check_combinations(const YAML::Node&, Config&) {}
std::string analysis_yaml(const Config&) { return {}; }
std::string draws_output_yaml(const Config&) { return {}; }

// YAML double-quoted string: always safe, whatever the path holds.
std::string quote(const std::string& s) {
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

Config parse_config_text(const std::string& yaml_text, const std::string& source_name,
                         const std::vector<Override>& overrides) {
  Reader reader(source_name);
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml_text);
  } catch (const YAML::ParserException& e) {
    reader.fail_mark(e.mark, "YAML syntax error: " + e.msg);
  }
  if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
    throw InputError(
        fmt::format("{}: the config is empty (expected a map of settings such as "
                    "'draws:' and 'parameters:')",
                    source_name));
  }
  if (docs.size() > 1) {
    reader.fail_mark(docs[1].Mark(), "more than one YAML document ('---'); give one config");
  }
  YAML::Node root = docs[0];
  if (!root.IsMap()) {
    reader.fail_mark(root.Mark(), fmt::format("the config must be a map of settings such as "
                                              "'draws:' and 'parameters:', got {}",
                                              describe(root)));
  }
  reader.check_file_tree(root, "");
  reader.apply_overrides(root, overrides);
  return reader.read(root);
}

Config load_config(const std::string& path, const std::vector<Override>& overrides) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    throw InputError(fmt::format("{}: cannot open config file: {}", path, std::strerror(errno)));
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (bad) {
    throw InputError(fmt::format("{}: cannot read config file: {}", path, std::strerror(err)));
  }
  return parse_config_text(text, path, overrides);
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
  out += fmt::format("  path: {}\n", quote(cfg.output_path));
  out += draws_output_yaml(cfg);
  // Only when set: files of runs without checkpoints keep their config text.
  if (cfg.checkpoint_every > 0) {
    out += "checkpoint:\n";
    out += fmt::format("  every: {}\n", format_number(cfg.checkpoint_every));
    if (!cfg.checkpoint_path.empty())
      out += fmt::format("  path: {}\n", quote(cfg.checkpoint_path));
  }
  // Each feature's keys, only when used, so plain configs keep their text (and hash).
  out += analysis_yaml(cfg);
  out += correlation_yaml(cfg);
  out += sensitivity_yaml(cfg);
  out += paths_yaml(cfg);
  return out;
}

}  // namespace spillmc
