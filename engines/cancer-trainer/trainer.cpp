// cancer-trainer: the example engine of the Ward demo. Trains a binary
// classifier (logistic regression, or an MLP with one hidden layer) on the CSV
// files of every input, evaluates a saved model on a CSV, splits a data set
// into the demo's parties, and serves a trained model over HTTP. Everything it
// computes is deterministic for the same inputs and arguments. README.md
// documents the CLI, the HTTP API and the file formats.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <expected>
#include <filesystem>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------
// Errors are values; main prints the one line and exits non-zero. Messages
// never quote the contents of a data file: the engine's log leaves the sandbox.

struct Error {
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

std::unexpected<Error> fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr std::size_t kHiddenUnits = 16;
constexpr std::string_view kModelFormat = "cancer-trainer-model/1";

// ---------------------------------------------------------------------------
// Small helpers.

// One whole line, even when several threads log at once.
void log_line(const std::string& line) {
  ::flockfile(stdout);
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  ::funlockfile(stdout);
}

// Shortest text that reads back as the same double.
std::string exact(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}

std::string fixed4(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 4);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<double> parse_number(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<std::string> read_file(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail(path.string() + ": cannot open: " + std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return fail(path.string() + ": read error");
  return text;
}

// Writes through a temporary file and a rename, so a reader never sees half a file.
Result<void> write_file(const fs::path& path, std::string_view text) {
  const fs::path tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return fail(tmp.string() + ": cannot create: " + std::strerror(errno));
  const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !wrote) return fail(tmp.string() + ": write error");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return fail(path.string() + ": cannot rename into place: " + ec.message());
  return {};
}

// splitmix64: a tiny generator whose output is the same on every platform,
// unlike std::shuffle and the std:: distributions.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound), without modulo bias.
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    std::uint64_t v = next();
    while (v >= limit) v = next();
    return v % bound;
  }

  // Uniform in [-a, a].
  double symmetric(double a) { return (static_cast<double>(next() >> 11) * 0x1.0p-53 * 2.0 - 1.0) * a; }

 private:
  std::uint64_t state_;
};

std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

// ---------------------------------------------------------------------------
// Data sets: rows of numeric features and a 0/1 target.

struct Dataset {
  std::vector<std::string> feature_names;  // empty when the file named none
  std::size_t features = 0;
  std::vector<double> x;  // row-major, rows() x features
  std::vector<double> y;  // 0 or 1

  std::size_t rows() const { return y.size(); }
  std::span<const double> row(std::size_t i) const { return {x.data() + i * features, features}; }

  Dataset subset(std::span<const std::size_t> indices) const {
    Dataset out{feature_names, features, {}, {}};
    out.x.reserve(indices.size() * features);
    for (std::size_t i : indices) {
      out.x.insert(out.x.end(), row(i).begin(), row(i).end());
      out.y.push_back(y[i]);
    }
    return out;
  }
};

std::vector<std::string> default_feature_names(std::size_t n) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n; ++i) names.push_back("f" + std::to_string(i));
  return names;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  for (;;) {
    const std::size_t comma = line.find(',');
    fields.push_back(trim(line.substr(0, comma)));
    if (comma == std::string_view::npos) return fields;
    line.remove_prefix(comma + 1);
  }
}

bool all_numeric(const std::vector<std::string_view>& fields) {
  return std::ranges::all_of(fields, [](std::string_view f) { return parse_number(f).has_value(); });
}

// Accepts three layouts, all with the target as the last column:
//   sklearn's: a first line "ROWS,FEATURES,class names...", then bare rows;
//   a header row of feature names whose last name is "target", then rows;
//   bare rows only.
// Fields are plain (no quoting); blank lines and a leading byte order mark are
// skipped.
Result<Dataset> parse_csv(std::string_view text, const std::string& name) {
  struct Line {
    std::size_t number;
    std::vector<std::string_view> fields;
  };
  std::vector<Line> lines;
  std::size_t number = 0;
  if (text.starts_with("\xEF\xBB\xBF"))
    text.remove_prefix(3);  // a UTF-8 byte order mark, as spreadsheets write
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    ++number;
    if (!line.empty()) lines.push_back({number, split_fields(line)});
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  if (lines.empty()) return fail(name + ": empty file");

  const auto& first = lines.front().fields;
  Dataset data;
  std::optional<std::uint64_t> declared_rows;
  std::size_t columns = first.size();
  std::size_t data_start = 1;
  if (all_numeric(first)) {
    data_start = 0;
  } else if (first.size() >= 2 && first.back() != "target" && parse_unsigned(first[0]) &&
             parse_unsigned(first[1])) {
    declared_rows = parse_unsigned(first[0]);
    columns = *parse_unsigned(first[1]) + 1;
  } else {
    if (first.back() != "target") return fail(name + ":1: header row must end with a \"target\" column");
    for (std::size_t c = 0; c + 1 < first.size(); ++c) {
      if (first[c].empty()) return fail(name + ":1: column " + std::to_string(c + 1) + " has an empty name");
      data.feature_names.emplace_back(first[c]);
    }
  }
  if (columns < 2) return fail(name + ": need at least one feature column and a target column");
  data.features = columns - 1;

  for (std::size_t l = data_start; l < lines.size(); ++l) {
    const auto& [line_number, fields] = lines[l];
    const std::string where = name + ":" + std::to_string(line_number) + ": ";
    if (fields.size() != columns) {
      return fail(where + "expected " + std::to_string(columns) + " columns, found " +
                  std::to_string(fields.size()));
    }
    for (std::size_t c = 0; c + 1 < columns; ++c) {
      const auto v = parse_number(fields[c]);
      if (!v) return fail(where + "column " + std::to_string(c + 1) + " is not a finite number");
      data.x.push_back(*v);
    }
    const auto target = parse_number(fields.back());
    if (!target || (*target != 0.0 && *target != 1.0)) return fail(where + "target is not 0 or 1");
    data.y.push_back(*target);
  }
  if (data.rows() == 0) return fail(name + ": no data rows");
  if (declared_rows && *declared_rows != data.rows()) {
    return fail(name + ": first line declares " + std::to_string(*declared_rows) + " rows, file has " +
                std::to_string(data.rows()));
  }
  return data;
}

Result<Dataset> load_csv(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  return parse_csv(*text, path.string());
}

// Appends `more` to `all`; the column layouts must agree.
Result<void> append(Dataset& all, Dataset&& more, const std::string& name) {
  if (all.rows() == 0) {
    all = std::move(more);
    return {};
  }
  if (more.features != all.features) {
    return fail(name + ": has " + std::to_string(more.features) + " features, earlier inputs have " +
                std::to_string(all.features));
  }
  if (!all.feature_names.empty() && !more.feature_names.empty() && all.feature_names != more.feature_names) {
    return fail(name + ": feature names differ from those of earlier inputs");
  }
  if (all.feature_names.empty()) all.feature_names = std::move(more.feature_names);
  all.x.insert(all.x.end(), more.x.begin(), more.x.end());
  all.y.insert(all.y.end(), more.y.begin(), more.y.end());
  return {};
}

std::string to_csv(const Dataset& data) {
  const auto names = data.feature_names.empty() ? default_feature_names(data.features) : data.feature_names;
  std::string out;
  for (const auto& n : names) out += n + ",";
  out += "target\n";
  for (std::size_t i = 0; i < data.rows(); ++i) {
    for (double v : data.row(i)) out += exact(v) + ",";
    out += data.y[i] != 0.0 ? "1\n" : "0\n";
  }
  return out;
}

// ---------------------------------------------------------------------------
// Models. Both output the probability that target = 1.

struct Standardizer {
  std::vector<double> mean, stddev;

  static Standardizer fit(const Dataset& data) {
    Standardizer s{std::vector<double>(data.features, 0.0), std::vector<double>(data.features, 0.0)};
    const auto n = static_cast<double>(data.rows());
    for (std::size_t i = 0; i < data.rows(); ++i) {
      for (std::size_t f = 0; f < data.features; ++f) s.mean[f] += data.row(i)[f];
    }
    for (double& m : s.mean) m /= n;
    for (std::size_t i = 0; i < data.rows(); ++i) {
      for (std::size_t f = 0; f < data.features; ++f) {
        const double d = data.row(i)[f] - s.mean[f];
        s.stddev[f] += d * d;
      }
    }
    // A constant feature carries no information; dividing by 1 keeps it at 0.
    for (double& sd : s.stddev) sd = sd > 0 ? std::sqrt(sd / n) : 1.0;
    return s;
  }

  std::vector<double> apply(std::span<const double> row) const {
    std::vector<double> out(row.size());
    for (std::size_t f = 0; f < row.size(); ++f) out[f] = (row[f] - mean[f]) / stddev[f];
    return out;
  }

  std::vector<double> apply_all(const Dataset& data) const {
    std::vector<double> out;
    out.reserve(data.x.size());
    for (std::size_t i = 0; i < data.rows(); ++i) {
      auto r = apply(data.row(i));
      out.insert(out.end(), r.begin(), r.end());
    }
    return out;
  }
};

struct Logistic {
  std::vector<double> weights;
  double bias = 0;
};

struct Mlp {
  std::vector<double> hidden_weights;  // kHiddenUnits x features, row-major
  std::vector<double> hidden_biases;
  std::vector<double> output_weights;
  double output_bias = 0;
};

struct Model {
  std::vector<std::string> feature_names;
  Standardizer scale;
  std::variant<Logistic, Mlp> net;

  std::string kind() const { return std::holds_alternative<Logistic>(net) ? "logistic" : "mlp"; }
};

double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// Binary cross-entropy from the logit, stable for large |z|.
double logit_loss(double z, double y) {
  return std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
}

double dot(std::span<const double> a, std::span<const double> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Logit of one standardized row.
double logit(const Logistic& m, std::span<const double> x) {
  return m.bias + dot(m.weights, x);
}

double logit(const Mlp& m, std::span<const double> x, std::span<double> hidden) {
  const std::size_t features = x.size();
  for (std::size_t h = 0; h < kHiddenUnits; ++h) {
    hidden[h] = std::tanh(m.hidden_biases[h] + dot({m.hidden_weights.data() + h * features, features}, x));
  }
  return m.output_bias + dot(m.output_weights, hidden);
}

double predict(const Model& model, std::span<const double> raw_row) {
  const auto x = model.scale.apply(raw_row);
  if (const auto* m = std::get_if<Logistic>(&model.net)) return sigmoid(logit(*m, x));
  double hidden[kHiddenUnits];
  return sigmoid(logit(std::get<Mlp>(model.net), x, hidden));
}

struct TrainSettings {
  std::string model = "logistic";
  std::size_t epochs = 0;
  double learning_rate = 0;
  double l2 = 1e-3;
  double holdout = 0.2;
  std::uint64_t seed = 42;
};

bool report_epoch(std::size_t epoch, std::size_t epochs) {
  return epoch == 1 || epoch == epochs || epoch % std::max<std::size_t>(1, epochs / 5) == 0;
}

// Full-batch gradient descent on the mean cross-entropy plus l2/2 * |w|^2.
Logistic train_logistic(const std::vector<double>& x, const std::vector<double>& y, std::size_t features,
                        const TrainSettings& s) {
  const std::size_t n = y.size();
  Logistic m{std::vector<double>(features, 0.0), 0.0};
  std::vector<double> grad(features);
  for (std::size_t epoch = 1; epoch <= s.epochs; ++epoch) {
    std::ranges::fill(grad, 0.0);
    double grad_bias = 0, loss = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::span<const double> xi(x.data() + i * features, features);
      const double z = logit(m, xi);
      const double g = sigmoid(z) - y[i];
      for (std::size_t f = 0; f < features; ++f) grad[f] += g * xi[f];
      grad_bias += g;
      loss += logit_loss(z, y[i]);
    }
    for (std::size_t f = 0; f < features; ++f) {
      m.weights[f] -= s.learning_rate * (grad[f] / static_cast<double>(n) + s.l2 * m.weights[f]);
    }
    m.bias -= s.learning_rate * grad_bias / static_cast<double>(n);
    if (report_epoch(epoch, s.epochs)) {
      log_line("epoch " + std::to_string(epoch) + "/" + std::to_string(s.epochs) + " loss " +
               fixed4(loss / static_cast<double>(n)));
    }
  }
  return m;
}

// Full-batch gradient descent for one tanh hidden layer and a sigmoid output;
// weights start uniform in +-sqrt(6 / (fan_in + fan_out)) from the seed.
Mlp train_mlp(const std::vector<double>& x, const std::vector<double>& y, std::size_t features,
              const TrainSettings& s) {
  const std::size_t n = y.size();
  Rng rng(s.seed ^ 0x6d6c70ULL);  // a stream apart from the holdout shuffle's, which uses the seed itself
  Mlp m{std::vector<double>(kHiddenUnits * features), std::vector<double>(kHiddenUnits, 0.0),
        std::vector<double>(kHiddenUnits), 0.0};
  const double a1 = std::sqrt(6.0 / static_cast<double>(features + kHiddenUnits));
  for (double& w : m.hidden_weights) w = rng.symmetric(a1);
  const double a2 = std::sqrt(6.0 / static_cast<double>(kHiddenUnits + 1));
  for (double& w : m.output_weights) w = rng.symmetric(a2);

  std::vector<double> g_hidden_w(m.hidden_weights.size()), g_hidden_b(kHiddenUnits), g_out_w(kHiddenUnits);
  double hidden[kHiddenUnits];
  for (std::size_t epoch = 1; epoch <= s.epochs; ++epoch) {
    std::ranges::fill(g_hidden_w, 0.0);
    std::ranges::fill(g_hidden_b, 0.0);
    std::ranges::fill(g_out_w, 0.0);
    double g_out_b = 0, loss = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::span<const double> xi(x.data() + i * features, features);
      const double z = logit(m, xi, hidden);
      const double dz = sigmoid(z) - y[i];
      loss += logit_loss(z, y[i]);
      g_out_b += dz;
      for (std::size_t h = 0; h < kHiddenUnits; ++h) {
        g_out_w[h] += dz * hidden[h];
        const double dh = dz * m.output_weights[h] * (1.0 - hidden[h] * hidden[h]);
        g_hidden_b[h] += dh;
        double* gw = g_hidden_w.data() + h * features;
        for (std::size_t f = 0; f < features; ++f) gw[f] += dh * xi[f];
      }
    }
    const double inv_n = 1.0 / static_cast<double>(n);
    for (std::size_t k = 0; k < m.hidden_weights.size(); ++k) {
      m.hidden_weights[k] -= s.learning_rate * (g_hidden_w[k] * inv_n + s.l2 * m.hidden_weights[k]);
    }
    for (std::size_t h = 0; h < kHiddenUnits; ++h) {
      m.hidden_biases[h] -= s.learning_rate * g_hidden_b[h] * inv_n;
      m.output_weights[h] -= s.learning_rate * (g_out_w[h] * inv_n + s.l2 * m.output_weights[h]);
    }
    m.output_bias -= s.learning_rate * g_out_b * inv_n;
    if (report_epoch(epoch, s.epochs)) {
      log_line("epoch " + std::to_string(epoch) + "/" + std::to_string(s.epochs) + " loss " +
               fixed4(loss * inv_n));
    }
  }
  return m;
}

// ---------------------------------------------------------------------------
// Metrics.

struct Scores {
  std::size_t rows = 0;
  std::optional<double> accuracy;  // none without rows
  std::optional<double> roc_auc;   // none unless both classes occur
};

// Exact ROC AUC via the Mann-Whitney U statistic; tied scores share their
// average rank, which counts a tied positive/negative pair as one half.
std::optional<double> roc_auc(const std::vector<double>& score, const std::vector<double>& y) {
  const std::size_t n = score.size();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::ranges::sort(order, [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  double positive_rank_sum = 0, positives = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t k = i; k < j; ++k) {
      if (y[order[k]] != 0.0) {
        positive_rank_sum += average_rank;
        positives += 1;
      }
    }
    i = j;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0 || negatives == 0) return std::nullopt;
  return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

Scores score(const Model& model, const Dataset& data) {
  Scores s{data.rows(), std::nullopt, std::nullopt};
  if (data.rows() == 0) return s;
  std::vector<double> p(data.rows());
  std::size_t correct = 0;
  for (std::size_t i = 0; i < data.rows(); ++i) {
    p[i] = predict(model, data.row(i));
    correct += (p[i] >= 0.5) == (data.y[i] != 0.0) ? 1 : 0;
  }
  s.accuracy = static_cast<double>(correct) / static_cast<double>(data.rows());
  s.roc_auc = roc_auc(p, data.y);
  return s;
}

Json optional_number(std::optional<double> v) {
  return v ? Json(*v) : Json(nullptr);
}

std::string describe(const Scores& s) {
  return "rows " + std::to_string(s.rows) + " accuracy " + (s.accuracy ? fixed4(*s.accuracy) : "n/a") +
         " roc_auc " + (s.roc_auc ? fixed4(*s.roc_auc) : "n/a");
}

// ---------------------------------------------------------------------------
// model.json and args.json.

std::string dump(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Json model_to_json(const Model& model, const TrainSettings& s, std::size_t train_rows) {
  const std::size_t features = model.scale.mean.size();
  Json j;
  j["format"] = kModelFormat;
  j["model"] = model.kind();
  j["output"] = "sigmoid probability that target = 1";
  j["feature_count"] = features;
  j["feature_names"] = model.feature_names;
  j["feature_means"] = model.scale.mean;
  j["feature_stds"] = model.scale.stddev;
  if (const auto* m = std::get_if<Logistic>(&model.net)) {
    j["weights"] = m->weights;
    j["bias"] = m->bias;
  } else {
    const auto& mlp = std::get<Mlp>(model.net);
    j["hidden_units"] = kHiddenUnits;
    j["hidden_activation"] = "tanh";
    Json rows = Json::array();
    for (std::size_t h = 0; h < kHiddenUnits; ++h) {
      rows.push_back(
          std::vector<double>(mlp.hidden_weights.begin() + static_cast<std::ptrdiff_t>(h * features),
                              mlp.hidden_weights.begin() + static_cast<std::ptrdiff_t>((h + 1) * features)));
    }
    j["hidden_weights"] = std::move(rows);
    j["hidden_biases"] = mlp.hidden_biases;
    j["output_weights"] = mlp.output_weights;
    j["output_bias"] = mlp.output_bias;
  }
  j["training"] = {{"epochs", s.epochs}, {"learning_rate", s.learning_rate},
                   {"l2", s.l2},         {"holdout", s.holdout},
                   {"seed", s.seed},     {"train_rows", train_rows}};
  return j;
}

Result<std::vector<double>> number_array(const Json& j, const char* key, std::size_t size) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != size) {
    return fail(std::string("\"") + key + "\" must be an array of " + std::to_string(size) + " numbers");
  }
  std::vector<double> out;
  for (const auto& v : *it) {
    if (!v.is_number()) return fail(std::string("\"") + key + "\" must hold numbers only");
    out.push_back(v.get<double>());
  }
  return out;
}

Result<double> number_field(const Json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return fail(std::string("\"") + key + "\" must be a number");
  return it->get<double>();
}

Result<Model> model_from_json(const Json& j) {
  if (!j.is_object() || !j.contains("format") || j["format"] != kModelFormat) {
    return fail("not a " + std::string(kModelFormat) + " file");
  }
  const auto count = j.find("feature_count");
  if (count == j.end() || !count->is_number_unsigned() || count->get<std::size_t>() == 0) {
    return fail("\"feature_count\" must be a positive integer");
  }
  const auto features = count->get<std::size_t>();
  Model model;
  auto means = number_array(j, "feature_means", features);
  if (!means) return std::unexpected(means.error());
  auto stds = number_array(j, "feature_stds", features);
  if (!stds) return std::unexpected(stds.error());
  if (!std::ranges::all_of(*stds, [](double v) { return v > 0; }))
    return fail("\"feature_stds\" must be positive");
  model.scale = {std::move(*means), std::move(*stds)};
  model.feature_names = default_feature_names(features);
  if (const auto names = j.find("feature_names");
      names != j.end() && names->is_array() && names->size() == features) {
    for (std::size_t f = 0; f < features; ++f) {
      if ((*names)[f].is_string()) model.feature_names[f] = (*names)[f].get<std::string>();
    }
  }

  const auto kind = j.find("model");
  if (kind != j.end() && *kind == "logistic") {
    auto w = number_array(j, "weights", features);
    if (!w) return std::unexpected(w.error());
    auto b = number_field(j, "bias");
    if (!b) return std::unexpected(b.error());
    model.net = Logistic{std::move(*w), *b};
    return model;
  }
  if (kind == j.end() || *kind != "mlp") return fail("\"model\" must be \"logistic\" or \"mlp\"");
  const auto hidden_units = j.find("hidden_units");
  if (hidden_units == j.end() || *hidden_units != kHiddenUnits) {
    return fail("\"hidden_units\" must be " + std::to_string(kHiddenUnits));
  }
  const auto rows = j.find("hidden_weights");
  if (rows == j.end() || !rows->is_array() || rows->size() != kHiddenUnits) {
    return fail("\"hidden_weights\" must be " + std::to_string(kHiddenUnits) + " arrays");
  }
  Mlp mlp;
  for (const auto& row : *rows) {
    if (!row.is_array() || row.size() != features ||
        !std::ranges::all_of(row, [](const Json& v) { return v.is_number(); })) {
      return fail("each of \"hidden_weights\" must be an array of " + std::to_string(features) + " numbers");
    }
    for (const auto& v : row) mlp.hidden_weights.push_back(v.get<double>());
  }
  auto hb = number_array(j, "hidden_biases", kHiddenUnits);
  if (!hb) return std::unexpected(hb.error());
  auto ow = number_array(j, "output_weights", kHiddenUnits);
  if (!ow) return std::unexpected(ow.error());
  auto ob = number_field(j, "output_bias");
  if (!ob) return std::unexpected(ob.error());
  mlp.hidden_biases = std::move(*hb);
  mlp.output_weights = std::move(*ow);
  mlp.output_bias = *ob;
  model.net = std::move(mlp);
  return model;
}

// A model file's JSON and the model it holds.
struct LoadedModel {
  Json json;
  Model model;
};

Result<LoadedModel> load_model_file(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded()) return fail(path.string() + ": not valid JSON");
  auto model = model_from_json(j);
  if (!model) return fail(path.string() + ": " + model.error().message);
  return LoadedModel{std::move(j), std::move(*model)};
}

Result<Model> load_model(const fs::path& path) {
  auto loaded = load_model_file(path);
  if (!loaded) return std::unexpected(loaded.error());
  return std::move(loaded->model);
}

// One row's answer, as `evaluate --rows-json` prints it and `serve` returns it.
Json prediction_json(double probability) {
  return {{"prediction", probability >= 0.5 ? 1 : 0}, {"probability", probability}};
}

// Reads args.json: {"model", "epochs", "learning_rate", "l2", "holdout", "seed"},
// all optional, and "order" (the Ward order id the loader adds), ignored.
// Unknown keys are errors, so a typo cannot silently fall back to a default.
Result<TrainSettings> parse_settings(std::string_view text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("args.json: must be a JSON object");
  TrainSettings s;
  std::optional<std::size_t> epochs;
  std::optional<double> learning_rate;
  for (const auto& [key, v] : j.items()) {
    const std::string where = "args.json: \"" + key + "\" ";
    if (key == "model") {
      if (v != "logistic" && v != "mlp") return fail(where + "must be \"logistic\" or \"mlp\"");
      s.model = v.get<std::string>();
    } else if (key == "epochs") {
      if (!v.is_number_unsigned() || v.get<std::uint64_t>() < 1 || v.get<std::uint64_t>() > 1'000'000) {
        return fail(where + "must be an integer from 1 to 1000000");
      }
      epochs = v.get<std::size_t>();
    } else if (key == "learning_rate") {
      if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>())) {
        return fail(where + "must be a positive number");
      }
      learning_rate = v.get<double>();
    } else if (key == "l2") {
      if (!v.is_number() || !(v.get<double>() >= 0) || !std::isfinite(v.get<double>())) {
        return fail(where + "must be a non-negative number");
      }
      s.l2 = v.get<double>();
    } else if (key == "holdout") {
      if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() < 1))
        return fail(where + "must be in [0, 1)");
      s.holdout = v.get<double>();
    } else if (key == "seed") {
      if (!v.is_number_unsigned()) return fail(where + "must be a non-negative integer");
      s.seed = v.get<std::uint64_t>();
    } else if (key != "order") {
      return fail("args.json: unknown key \"" + key + "\"");
    }
  }
  const bool logistic = s.model == "logistic";
  s.epochs = epochs.value_or(logistic ? 300 : 500);
  s.learning_rate = learning_rate.value_or(logistic ? 0.5 : 0.1);
  return s;
}

// ---------------------------------------------------------------------------
// Commands.

struct TrainOptions {
  std::vector<fs::path> inputs;  // directories (searched recursively) or CSV files
  fs::path output;
  std::optional<fs::path> args;  // none: use the defaults
};

bool is_csv(const fs::path& p) {
  std::string ext = p.extension().string();
  std::ranges::transform(ext, ext.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".csv";
}

Result<std::vector<fs::path>> csv_files(const fs::path& input) {
  std::error_code ec;
  if (fs::is_regular_file(input, ec)) return std::vector<fs::path>{input};
  if (!fs::is_directory(input, ec)) return fail(input.string() + ": no such file or directory");
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(input, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && is_csv(it->path())) files.push_back(it->path());
  }
  if (ec) return fail(input.string() + ": cannot list: " + ec.message());
  if (files.empty()) return fail(input.string() + ": holds no .csv file");
  std::ranges::sort(files);
  return files;
}

// The sandbox's inputs, /ward/inputs/0, 1, ..., in numeric order.
Result<std::vector<fs::path>> sandbox_inputs(const fs::path& root) {
  std::error_code ec;
  std::vector<std::pair<std::string, fs::path>> found;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) found.emplace_back(it->path().filename().string(), it->path());
  }
  if (ec) return fail(root.string() + ": cannot list: " + ec.message());
  if (found.empty()) return fail(root.string() + ": no inputs");
  const auto key = [](const std::string& name) {
    const bool numeric = std::ranges::all_of(name, [](char c) { return c >= '0' && c <= '9'; });
    return std::tuple(!numeric, numeric ? name.size() : 0, name);
  };
  std::ranges::sort(found, [&](const auto& a, const auto& b) { return key(a.first) < key(b.first); });
  std::vector<fs::path> dirs;
  for (auto& [name, path] : found) dirs.push_back(std::move(path));
  return dirs;
}

Result<void> train(const TrainOptions& opt) {
  TrainSettings settings;
  if (opt.args) {
    auto text = read_file(*opt.args);
    if (!text) return std::unexpected(text.error());
    auto parsed = parse_settings(*text);
    if (!parsed) return std::unexpected(parsed.error());
    settings = *parsed;
  } else {
    settings = *parse_settings("{}");
  }

  Dataset all;
  std::size_t files = 0;
  for (const auto& input : opt.inputs) {
    auto paths = csv_files(input);
    if (!paths) return std::unexpected(paths.error());
    for (const auto& path : *paths) {
      auto data = load_csv(path);
      if (!data) return std::unexpected(data.error());
      log_line("read " + path.string() + ": " + std::to_string(data->rows()) + " rows, " +
               std::to_string(data->features) + " features");
      if (auto ok = append(all, std::move(*data), path.string()); !ok) return ok;
      ++files;
    }
  }

  const auto order = shuffled_indices(all.rows(), settings.seed);
  const auto holdout_rows =
      static_cast<std::size_t>(std::llround(settings.holdout * static_cast<double>(all.rows())));
  if (all.rows() - holdout_rows < 2) {
    return fail("too few rows to train: " + std::to_string(all.rows()) + " in all, " +
                std::to_string(holdout_rows) + " held out");
  }
  std::vector<std::size_t> held(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(holdout_rows));
  std::vector<std::size_t> kept(order.begin() + static_cast<std::ptrdiff_t>(holdout_rows), order.end());
  std::ranges::sort(held);
  std::ranges::sort(kept);
  const Dataset training = all.subset(kept);
  const Dataset holdout = all.subset(held);
  log_line("model " + settings.model + ", " + std::to_string(training.rows()) + " training rows, " +
           std::to_string(holdout.rows()) + " held out (seed " + std::to_string(settings.seed) + ")");

  Model model;
  model.feature_names = all.feature_names.empty() ? default_feature_names(all.features) : all.feature_names;
  model.scale = Standardizer::fit(training);
  const auto x = model.scale.apply_all(training);
  if (settings.model == "logistic") {
    model.net = train_logistic(x, training.y, training.features, settings);
  } else {
    model.net = train_mlp(x, training.y, training.features, settings);
  }

  const Scores train_scores = score(model, training);
  const Scores holdout_scores = score(model, holdout);
  log_line("training: " + describe(train_scores));
  log_line("holdout: " + describe(holdout_scores));

  Json metrics;
  metrics["model"] = settings.model;
  metrics["inputs"] = files;
  metrics["features"] = all.features;
  metrics["train_rows"] = training.rows();
  metrics["holdout_rows"] = holdout.rows();
  metrics["accuracy"] = optional_number(holdout_scores.accuracy);
  metrics["roc_auc"] = optional_number(holdout_scores.roc_auc);
  metrics["train_accuracy"] = optional_number(train_scores.accuracy);
  metrics["train_roc_auc"] = optional_number(train_scores.roc_auc);

  std::error_code ec;
  fs::create_directories(opt.output, ec);
  if (ec) return fail(opt.output.string() + ": cannot create: " + ec.message());
  if (auto ok = write_file(opt.output / "model.json", dump(model_to_json(model, settings, training.rows())));
      !ok) {
    return ok;
  }
  if (auto ok = write_file(opt.output / "metrics.json", dump(metrics)); !ok) return ok;
  log_line("wrote " + (opt.output / "model.json").string() + " and metrics.json");
  return {};
}

enum class EvaluateOutput { Text, Json, Rows };

Result<void> evaluate(const fs::path& model_path, const fs::path& data_path, EvaluateOutput output) {
  auto model = load_model(model_path);
  if (!model) return std::unexpected(model.error());
  auto data = load_csv(data_path);
  if (!data) return std::unexpected(data.error());
  if (data->features != model->scale.mean.size()) {
    return fail(data_path.string() + ": has " + std::to_string(data->features) +
                " features, the model expects " + std::to_string(model->scale.mean.size()));
  }
  if (output == EvaluateOutput::Rows) {
    Json predictions = Json::array();
    for (std::size_t i = 0; i < data->rows(); ++i)
      predictions.push_back(prediction_json(predict(*model, data->row(i))));
    const Json j = {{"predictions", std::move(predictions)}};
    std::fputs(j.dump().c_str(), stdout);
    std::fputc('\n', stdout);
    return {};
  }
  const Scores s = score(*model, *data);
  if (output == EvaluateOutput::Json) {
    Json j;
    j["model"] = model->kind();
    j["rows"] = s.rows;
    j["accuracy"] = optional_number(s.accuracy);
    j["roc_auc"] = optional_number(s.roc_auc);
    std::fputs(j.dump().c_str(), stdout);
    std::fputc('\n', stdout);
  } else {
    log_line(model->kind() + " " + describe(s));
  }
  return {};
}

// Shuffles the rows with the seed, then writes holdout.csv (the first 20%),
// alice.csv (the next 40%) and bob.csv (the rest), rows in their original order.
Result<void> split(const fs::path& data_path, const fs::path& out, std::uint64_t seed) {
  auto data = load_csv(data_path);
  if (!data) return std::unexpected(data.error());
  const std::size_t n = data->rows();
  const auto order = shuffled_indices(n, seed);
  const auto at = [&](double fraction) {
    return order.begin() + static_cast<std::ptrdiff_t>(std::llround(fraction * static_cast<double>(n)));
  };
  const std::pair<const char*, std::vector<std::size_t>> parts[] = {
      {"holdout.csv", {order.begin(), at(0.2)}},
      {"alice.csv", {at(0.2), at(0.6)}},
      {"bob.csv", {at(0.6), order.end()}},
  };
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return fail(out.string() + ": cannot create: " + ec.message());
  for (auto [name, rows] : parts) {
    std::ranges::sort(rows);
    if (auto ok = write_file(out / name, to_csv(data->subset(rows))); !ok) return ok;
    log_line("wrote " + (out / name).string() + ": " + std::to_string(rows.size()) + " rows");
  }
  return {};
}

// ---------------------------------------------------------------------------
// serve: a trained model over HTTP/1.1, inside the sandbox of a Ward service
// order, where only Ward's loader reaches it. A small, strict server: a thread
// per connection (capped), keep-alive, Content-Length or chunked request
// bodies, bounded heads and bodies, and a deadline per request so that idle
// and slow connections end. The log names the method, the route and the
// status of each request, never a value; the model's weights never leave.

constexpr std::size_t kMaxHeadBytes = 16 * 1024;
constexpr std::size_t kMaxBodyBytes = 1 << 20;
// Chunk framing may add this much to a body before the request is refused.
constexpr std::size_t kMaxFramingBytes = 1 << 20;
constexpr std::size_t kMaxChunkLine = 1024;
constexpr std::size_t kMaxHeaders = 100;
constexpr std::size_t kMaxRows = 1000;
constexpr std::size_t kDefaultThreads = 64;
constexpr std::size_t kMaxThreads = 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(30);
// After a refusal that ends the connection, unread input is drained for at
// most this long, so the client reads the refusal rather than a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 4 << 20;

struct ServeSettings {
  std::size_t threads = kDefaultThreads;  // the most connections served at once
};

// Reads args.json for serve: {"threads"} optional, and "order" (the Ward order
// id the loader adds), ignored. Unknown keys are errors, as for train.
Result<ServeSettings> parse_serve_settings(std::string_view text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("args.json: must be a JSON object");
  ServeSettings s;
  for (const auto& [key, v] : j.items()) {
    if (key == "threads") {
      if (!v.is_number_unsigned() || v.get<std::uint64_t>() < 1 || v.get<std::uint64_t>() > kMaxThreads) {
        return fail("args.json: \"threads\" must be an integer from 1 to " + std::to_string(kMaxThreads));
      }
      s.threads = v.get<std::size_t>();
    } else if (key != "order") {
      return fail("args.json: unknown key " + Json(key).dump());
    }
  }
  return s;
}

struct Refusal {
  int status;
  std::string reason, message;
};

struct Request {
  std::string method, path;  // the path without its query
  std::string body;
  bool keep_alive = true;
};

struct Response {
  int status = 200;
  Json body;
  const char* allow = nullptr;  // the Allow header of a 405
};

Response error_response(int status, std::string reason, std::string message) {
  return {status, {{"error", {{"reason", std::move(reason)}, {"message", std::move(message)}}}}, nullptr};
}

Response error_response(Refusal r) {
  return error_response(r.status, std::move(r.reason), std::move(r.message));
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string render(const Response& r, bool keep_alive) {
  const std::string body = r.body.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n";
  if (r.allow) out += std::string("Allow: ") + r.allow + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return out + body;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::ranges::equal(a, b, [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::ranges::all_of(s, is_tchar);
}

// Whether a comma-separated header value lists `item`.
bool lists(std::string_view value, std::string_view item) {
  for (;;) {
    const std::size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), item)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

Refusal malformed(std::string message) {
  return {400, "malformed", "the request is not valid HTTP: " + std::move(message)};
}

// One connection: a socket, the bytes read and not yet used, and the deadline
// of the request being read.
class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}

  enum class Fill { Ok, Closed, TimedOut };

  // Reads what the peer sent next, waiting until the deadline at most.
  Fill fill() {
    char buf[1 << 16];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) return Fill::TimedOut;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return Fill::Closed;
      if (ready == 0) return Fill::TimedOut;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fill::Closed;
      in_.append(buf, static_cast<std::size_t>(n));
      return Fill::Ok;
    }
  }

  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Ends the connection after a refusal: stops sending, then reads and drops
  // what the peer still sends for a moment, so that closing with unread
  // input does not reset the connection before the refusal is read.
  void linger() {
    ::shutdown(fd_, SHUT_WR);
    deadline_ = Clock::now() + kLingerTime;
    for (std::size_t drained = 0; drained < kLingerBytes && fill() == Fill::Ok;) {
      drained += in_.size();
      in_.clear();
    }
  }

  void start_request() { deadline_ = Clock::now() + kRequestTimeout; }

  // Reads the next request, or returns the refusal to answer, or nullopt when
  // the peer closed or stayed idle between requests.
  std::optional<std::variant<Request, Refusal>> read_request() {
    start_request();
    std::size_t head_end = 0;
    for (;;) {
      // Empty lines before a request line are ignored (RFC 9112 section 2.2).
      in_.erase(0, std::min(in_.find_first_not_of("\r\n"), in_.size()));
      auto end = find_head_end();
      if (!end) return std::variant<Request, Refusal>(end.error());
      if (*end) {
        head_end = **end;
        break;
      }
      if (in_.size() > kMaxHeadBytes) return too_large_head();
      const bool idle = in_.empty();
      switch (fill()) {
        case Fill::Ok:
          continue;
        case Fill::Closed:
          return std::nullopt;
        case Fill::TimedOut:
          if (idle) return std::nullopt;
          return std::variant<Request, Refusal>(
              Refusal{408, "timeout", "the request did not arrive in time"});
      }
    }
    Request request;
    bool chunked = false, expect_continue = false;
    std::size_t length = 0;
    if (auto ok =
            parse_head(std::string_view(in_).substr(0, head_end), request, chunked, length, expect_continue);
        !ok) {
      return std::variant<Request, Refusal>(ok.error());
    }
    in_.erase(0, head_end);
    if (expect_continue && (chunked || in_.size() < length) && !send_all("HTTP/1.1 100 Continue\r\n\r\n")) {
      return std::nullopt;
    }
    auto body = chunked ? read_chunked() : read_exactly(length);
    if (!body) return std::variant<Request, Refusal>(body.error());
    if (!*body) return std::nullopt;
    request.body = std::move(**body);
    return std::variant<Request, Refusal>(std::move(request));
  }

 private:
  using Clock = std::chrono::steady_clock;
  using Body = std::expected<std::optional<std::string>, Refusal>;

  static Refusal too_large_head() {
    return {431, "too_large",
            "the request line and headers are larger than " + std::to_string(kMaxHeadBytes) + " bytes"};
  }

  static Refusal too_large_body() {
    return {413, "too_large", "the request body is larger than " + std::to_string(kMaxBodyBytes) + " bytes"};
  }

  // Where the head ends (after its empty line), or nullopt when not read yet.
  // A line may end in CRLF or LF; a CR anywhere else is refused.
  std::expected<std::optional<std::size_t>, Refusal> find_head_end() const {
    for (std::size_t pos = 0;;) {
      const std::size_t lf = in_.find('\n', pos);
      if (lf == std::string::npos) return std::nullopt;
      const std::size_t line_end = lf > pos && in_[lf - 1] == '\r' ? lf - 1 : lf;
      if (std::string_view(in_).substr(pos, line_end - pos).find('\r') != std::string_view::npos) {
        return std::unexpected(malformed("a bare CR in a line"));
      }
      const bool empty = line_end == pos;
      pos = lf + 1;
      if (pos > kMaxHeadBytes) return std::unexpected(too_large_head());
      if (empty) return pos;
    }
  }

  static std::expected<void, Refusal> parse_head(std::string_view head, Request& request, bool& chunked,
                                                 std::size_t& length, bool& expect_continue) {
    std::vector<std::string_view> lines;
    while (!head.empty()) {
      const std::size_t lf = head.find('\n');
      std::string_view line = head.substr(0, lf);
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (!line.empty()) lines.push_back(line);
      if (lf == std::string_view::npos) break;
      head.remove_prefix(lf + 1);
    }
    const std::string_view line = lines.front();
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
      return std::unexpected(malformed("the request line is not METHOD TARGET VERSION"));
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!is_token(method)) return std::unexpected(malformed("the method is not a token"));
    if (!target.starts_with('/') || !std::ranges::all_of(target, [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u > 0x20 && u < 0x7f;
        })) {
      return std::unexpected(malformed("the request target is not a path"));
    }
    bool http10 = false;
    if (version == "HTTP/1.0") {
      http10 = true;
    } else if (version != "HTTP/1.1") {
      if (version.starts_with("HTTP/")) {
        return std::unexpected(Refusal{505, "http_version", "only HTTP/1.0 and HTTP/1.1 are served"});
      }
      return std::unexpected(malformed("the protocol is not HTTP/1.x"));
    }
    request.method = std::string(method);
    request.path = std::string(target.substr(0, target.find('?')));

    if (lines.size() - 1 > kMaxHeaders) {
      return std::unexpected(Refusal{
          431, "too_large", "the request has more than " + std::to_string(kMaxHeaders) + " header fields"});
    }
    std::optional<std::size_t> content_length;
    bool close = false, keep_alive = false;
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const std::string_view h = lines[i];
      if (h.front() == ' ' || h.front() == '\t')
        return std::unexpected(malformed("obsolete line folding in a header"));
      const std::size_t colon = h.find(':');
      if (colon == std::string_view::npos || !is_token(h.substr(0, colon))) {
        return std::unexpected(malformed("a header line is not NAME: VALUE"));
      }
      const std::string_view name = h.substr(0, colon);
      const std::string_view value = trim(h.substr(colon + 1));
      if (!std::ranges::all_of(value, [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u == '\t' || (u >= 0x20 && u != 0x7f);
          })) {
        return std::unexpected(malformed("a header value has control characters"));
      }
      if (iequals(name, "Content-Length")) {
        if (value.empty() || !std::ranges::all_of(value, [](char c) { return c >= '0' && c <= '9'; })) {
          return std::unexpected(malformed("Content-Length is not a number"));
        }
        if (value.size() > 18) return std::unexpected(too_large_body());
        const auto n = parse_unsigned(value);
        if (content_length && *content_length != *n)
          return std::unexpected(malformed("two different Content-Lengths"));
        content_length = *n;
      } else if (iequals(name, "Transfer-Encoding")) {
        if (chunked || !iequals(value, "chunked")) {
          return std::unexpected(
              Refusal{501, "not_implemented", "only Transfer-Encoding: chunked is accepted in requests"});
        }
        chunked = true;
      } else if (iequals(name, "Connection")) {
        close = close || lists(value, "close");
        keep_alive = keep_alive || lists(value, "keep-alive");
      } else if (iequals(name, "Expect")) {
        if (!iequals(value, "100-continue")) {
          return std::unexpected(
              Refusal{417, "expectation_failed", "only Expect: 100-continue is understood"});
        }
        expect_continue = true;
      }
    }
    if (chunked && content_length)
      return std::unexpected(malformed("both Content-Length and Transfer-Encoding"));
    if (chunked && http10) return std::unexpected(malformed("Transfer-Encoding in an HTTP/1.0 request"));
    length = content_length.value_or(0);
    if (length > kMaxBodyBytes) return std::unexpected(too_large_body());
    request.keep_alive = http10 ? keep_alive && !close : !close;
    return {};
  }

  Body read_exactly(std::size_t length) {
    while (in_.size() < length) {
      switch (fill()) {
        case Fill::Ok:
          break;
        case Fill::Closed:
          return std::nullopt;
        case Fill::TimedOut:
          return std::unexpected(Refusal{408, "timeout", "the request body did not arrive in time"});
      }
    }
    std::string body = in_.substr(0, length);
    in_.erase(0, length);
    return body;
  }

  // The next line of chunk framing, consumed; nullopt until it has arrived.
  std::expected<std::optional<std::string>, Refusal> framing_line(std::size_t& framing) {
    for (;;) {
      const std::size_t lf = in_.find('\n');
      if (lf == std::string::npos) {
        if (in_.size() > kMaxChunkLine) return std::unexpected(malformed("a chunk line is too long"));
        switch (fill()) {
          case Fill::Ok:
            continue;
          case Fill::Closed:
            return std::nullopt;
          case Fill::TimedOut:
            return std::unexpected(Refusal{408, "timeout", "the request body did not arrive in time"});
        }
      }
      if (lf > kMaxChunkLine) return std::unexpected(malformed("a chunk line is too long"));
      std::string line = in_.substr(0, lf);
      if (line.ends_with('\r')) line.pop_back();
      if (line.find('\r') != std::string::npos)
        return std::unexpected(malformed("a bare CR in a chunk line"));
      in_.erase(0, lf + 1);
      framing += lf + 1;
      if (framing > kMaxFramingBytes) {
        return std::unexpected(Refusal{413, "too_large", "the chunked request body has too much framing"});
      }
      return line;
    }
  }

  // A chunked body (RFC 9112 section 7.1): chunk extensions and trailers are
  // read and ignored.
  Body read_chunked() {
    std::string body;
    std::size_t framing = 0;
    for (;;) {
      auto line = framing_line(framing);
      if (!line) return std::unexpected(line.error());
      if (!*line) return std::nullopt;
      const std::string_view size_text = trim(std::string_view(**line).substr(0, (*line)->find(';')));
      std::size_t size = 0;
      const auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
      if (size_text.empty() || size_text.size() > 15 || ec != std::errc() ||
          end != size_text.data() + size_text.size()) {
        return std::unexpected(malformed("a chunk size is not hexadecimal"));
      }
      if (size == 0) break;
      if (size > kMaxBodyBytes - body.size()) return std::unexpected(too_large_body());
      auto data = read_exactly(size);
      if (!data || !*data) return data;
      body += **data;
      auto after = framing_line(framing);
      if (!after) return std::unexpected(after.error());
      if (!*after) return std::nullopt;
      if (!(*after)->empty()) return std::unexpected(malformed("a chunk does not end with CRLF"));
    }
    for (std::size_t trailer_bytes = framing;;) {
      auto line = framing_line(trailer_bytes);
      if (!line) return std::unexpected(line.error());
      if (!*line) return std::nullopt;
      if ((*line)->empty()) return body;
      if (trailer_bytes - framing > kMaxHeadBytes) return std::unexpected(too_large_head());
    }
  }

  int fd_;
  std::string in_;
  Clock::time_point deadline_{};
};

// The model being served, and what GET /v1/model tells about it.
struct Service {
  Model model;
  Json info;
};

// What GET /v1/model returns: the kind, the features and the training
// settings as model.json states them; never a weight, a mean or a deviation.
Json model_info(const Json& file, const Model& model) {
  Json training = Json::object();
  if (const auto t = file.find("training"); t != file.end() && t->is_object()) {
    for (const auto& [key, v] : t->items()) {
      if (v.is_primitive()) training[key] = v;
    }
  }
  return {{"model", model.kind()},
          {"feature_count", model.scale.mean.size()},
          {"feature_names", model.feature_names},
          {"training", std::move(training)}};
}

// One row of features, checked; the messages name positions, never values.
Result<std::vector<double>> read_row(const Json& row, std::size_t features, const std::string& where) {
  if (!row.is_array() || row.size() != features) {
    return fail(where + " must be an array of " + std::to_string(features) + " numbers" +
                (row.is_array() ? ", it has " + std::to_string(row.size()) : std::string()));
  }
  std::vector<double> x;
  x.reserve(features);
  for (std::size_t f = 0; f < features; ++f) {
    if (!row[f].is_number() || !std::isfinite(row[f].get<double>())) {
      return fail(where + "[" + std::to_string(f) + "] is not a finite number");
    }
    x.push_back(row[f].get<double>());
  }
  return x;
}

Response predict_response(const Service& service, const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return error_response(400, "malformed", "the body is not valid JSON");
  const std::size_t features = service.model.scale.mean.size();
  const auto invalid = [](const std::string& message) {
    return error_response(400, "invalid_input", message);
  };
  if (!j.is_object() || j.size() != 1 || (!j.contains("features") && !j.contains("rows"))) {
    return invalid("the body must be an object with one key, \"features\" or \"rows\"");
  }
  if (const auto it = j.find("features"); it != j.end()) {
    auto x = read_row(*it, features, "\"features\"");
    if (!x) return invalid(x.error().message);
    return {200, prediction_json(predict(service.model, *x)), nullptr};
  }
  const Json& rows = j["rows"];
  if (!rows.is_array() || rows.empty() || rows.size() > kMaxRows) {
    return invalid("\"rows\" must be an array of 1 to " + std::to_string(kMaxRows) + " rows");
  }
  std::vector<std::vector<double>> xs;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto x = read_row(rows[i], features, "\"rows\"[" + std::to_string(i) + "]");
    if (!x) return invalid(x.error().message);
    xs.push_back(std::move(*x));
  }
  Json predictions = Json::array();
  for (const auto& x : xs) predictions.push_back(prediction_json(predict(service.model, x)));
  return {200, {{"predictions", std::move(predictions)}}, nullptr};
}

Response route(const Service& service, const Request& request) {
  struct Route {
    const char* path;
    const char* method;
  };
  static constexpr Route kRoutes[] = {{"/health", "GET"}, {"/v1/model", "GET"}, {"/v1/predict", "POST"}};
  const auto r = std::ranges::find_if(kRoutes, [&](const Route& r) { return request.path == r.path; });
  if (r == std::end(kRoutes)) return error_response(404, "unknown_path", "no such endpoint");
  if (request.method != r->method) {
    Response res = error_response(405, "method_not_allowed", std::string("use ") + r->method);
    res.allow = r->method;
    return res;
  }
  if (request.path == "/health") return {200, {{"status", "ok"}}, nullptr};
  if (request.path == "/v1/model") return {200, service.info, nullptr};
  return predict_response(service, request.body);
}

// The request's method and path as the log shows them: only names the server
// knows, so that no value a client sent reaches the log.
std::string log_name(std::string_view name, std::initializer_list<std::string_view> known) {
  return std::ranges::find(known, name) != known.end() ? std::string(name) : std::string("-");
}

void log_request(std::string_view method, std::string_view path, int status) {
  log_line(log_name(method, {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}) + " " +
           log_name(path, {"/health", "/v1/model", "/v1/predict"}) + " " + std::to_string(status));
}

void serve_connection(const Service& service, int fd) {
  Connection c(fd);
  for (;;) {
    auto next = c.read_request();
    if (!next) return;
    if (auto* refusal = std::get_if<Refusal>(&*next)) {
      log_request("-", "-", refusal->status);
      c.send_all(render(error_response(std::move(*refusal)), false));
      c.linger();
      return;
    }
    const auto& request = std::get<Request>(*next);
    Response response;
    try {
      response = route(service, request);
    } catch (const std::exception&) {
      response = error_response(500, "internal", "the request could not be served");
    }
    log_request(request.method, request.path, response.status);
    if (!c.send_all(render(response, request.keep_alive)) || !request.keep_alive) return;
  }
}

struct ServeOptions {
  std::optional<fs::path> model;  // none: the only model.json under /ward/inputs/*/
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (the log names it)
  std::optional<fs::path> args;
};

// The only model.json found in the sandbox's inputs, searched recursively.
Result<fs::path> sandbox_model(const fs::path& root) {
  auto inputs = sandbox_inputs(root);
  if (!inputs) return std::unexpected(inputs.error());
  std::vector<fs::path> found;
  for (const auto& input : *inputs) {
    std::error_code ec;
    fs::recursive_directory_iterator it(input, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (it->path().filename() == "model.json" && it->is_regular_file(ec)) found.push_back(it->path());
    }
    if (ec) return fail(input.string() + ": cannot list: " + ec.message());
  }
  if (found.empty()) return fail(root.string() + ": no model.json in any input");
  if (found.size() > 1) {
    return fail(root.string() + ": " + std::to_string(found.size()) +
                " model.json files in the inputs; name one with --model");
  }
  return found.front();
}

class Listener {
 public:
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }

  Result<void> open(const std::string& host, std::uint16_t port) {
    sockaddr_storage addr{};
    socklen_t size = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      size = sizeof *v4;
    } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      size = sizeof *v6;
    } else {
      return fail("--host must be an IPv4 or IPv6 address");
    }
    const std::string where = host + " port " + std::to_string(port);
    fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), size) != 0 || ::listen(fd_, 128) != 0) {
      return fail("cannot listen on " + where + ": " + std::strerror(errno));
    }
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
      return fail("cannot read the address of " + where + ": " + std::strerror(errno));
    }
    port_ = ntohs(addr.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
    return {};
  }

  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// The open connections, so that a stop can end them and wait for their threads.
class Connections {
 public:
  explicit Connections(std::size_t limit) : limit_(limit) {}

  bool add(int fd) {
    std::lock_guard lock(mutex_);
    if (open_.size() >= limit_) return false;
    open_.insert(fd);
    return true;
  }

  void remove(int fd) {
    std::lock_guard lock(mutex_);
    open_.erase(fd);
    ::close(fd);
    if (open_.empty()) idle_.notify_all();
  }

  // Ends every open connection and waits until their threads are done.
  void stop() {
    std::unique_lock lock(mutex_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    idle_.wait(lock, [this] { return open_.empty(); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  std::set<int> open_;
  std::size_t limit_;
};

// Refuses a connection beyond the limit without waiting on the client.
void refuse_busy(int fd) {
  const std::string busy =
      render(error_response(503, "busy", "too many open connections; retry later"), false);
  [[maybe_unused]] const ssize_t n = ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  log_request("-", "-", 503);
  ::close(fd);
}

Result<void> serve(const ServeOptions& opt) {
  ServeSettings settings;
  if (opt.args) {
    auto text = read_file(*opt.args);
    if (!text) return std::unexpected(text.error());
    auto parsed = parse_serve_settings(*text);
    if (!parsed) return std::unexpected(parsed.error());
    settings = *parsed;
  }
  fs::path model_path;
  if (opt.model) {
    model_path = *opt.model;
  } else {
    auto found = sandbox_model("/ward/inputs");
    if (!found) return std::unexpected(found.error());
    model_path = *found;
  }
  auto loaded = load_model_file(model_path);
  if (!loaded) return std::unexpected(loaded.error());
  Json info = model_info(loaded->json, loaded->model);
  const Service service{std::move(loaded->model), std::move(info)};

  // SIGTERM and SIGINT are taken from a signalfd by the accepting thread only:
  // blocked before any connection thread starts, they stay blocked in all.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) return fail("cannot block SIGTERM");
  const int signal_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) return fail(std::string("cannot make a signalfd: ") + std::strerror(errno));
  ::signal(SIGPIPE, SIG_IGN);

  Listener listener;
  if (auto ok = listener.open(opt.host, opt.port); !ok) return ok;
  log_line("serving a " + service.model.kind() + " model of " +
           std::to_string(service.model.scale.mean.size()) + " features on " + opt.host + " port " +
           std::to_string(listener.port()) + ", at most " + std::to_string(settings.threads) +
           " connections");

  Connections connections(settings.threads);
  for (;;) {
    pollfd p[2] = {{listener.fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("poll failed: ") + std::strerror(errno));
    }
    if (p[1].revents != 0) break;
    const int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors or memory: wait a moment rather than spin.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (!connections.add(fd)) {
      refuse_busy(fd);
      continue;
    }
    try {
      std::thread([&service, &connections, fd] {
        try {
          serve_connection(service, fd);
        } catch (...) {
          // Out of memory in one connection ends that connection only.
        }
        connections.remove(fd);
      }).detach();
    } catch (const std::system_error&) {
      connections.remove(fd);
    }
  }
  log_line("stopping: ending the open connections");
  connections.stop();
  ::close(signal_fd);
  log_line("stopped");
  return {};
}

constexpr const char* kUsage =
    "usage:\n"
    "  cancer-trainer                 train in the Ward sandbox: /ward/inputs/*/ -> /ward/output/\n"
    "  cancer-trainer train [--inputs PATH...] [--output DIR] [--args FILE]\n"
    "  cancer-trainer evaluate --model MODEL.json --data FILE.csv [--json | --rows-json]\n"
    "  cancer-trainer split --data FILE.csv --out DIR [--seed N]\n"
    "  cancer-trainer serve [--model MODEL.json] [--port N] [--host ADDRESS] [--args FILE]\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "cancer-trainer: %s\n%s", message.c_str(), kUsage);
  return kExitUsage;
}

int report(const Result<void>& r) {
  if (r) return 0;
  std::fprintf(stderr, "cancer-trainer: %s\n", r.error().message.c_str());
  return kExitError;
}

// The options of one command: each "--name" takes the values up to the next
// "--name"; a flag takes none.
struct Options {
  std::vector<std::pair<std::string, std::vector<std::string>>> entries;

  const std::vector<std::string>* find(std::string_view name) const {
    for (const auto& [n, v] : entries) {
      if (n == name) return &v;
    }
    return nullptr;
  }
};

Result<Options> parse_options(std::span<char*> argv, std::initializer_list<std::string_view> multi,
                              std::initializer_list<std::string_view> single,
                              std::initializer_list<std::string_view> flags) {
  Options o;
  for (std::size_t i = 0; i < argv.size();) {
    const std::string name = argv[i++];
    const auto is = [&](auto list) { return std::ranges::find(list, name) != list.end(); };
    if (!is(multi) && !is(single) && !is(flags)) return fail("unknown option " + name);
    if (o.find(name)) return fail(name + " given twice");
    std::vector<std::string> values;
    while (i < argv.size() && !std::string_view(argv[i]).starts_with("--")) values.emplace_back(argv[i++]);
    if (is(flags) && !values.empty()) return fail(name + " takes no value");
    if (is(single) && values.size() != 1) return fail(name + " takes one value");
    if (is(multi) && values.empty()) return fail(name + " needs at least one value");
    o.entries.emplace_back(name, std::move(values));
  }
  return o;
}

int run_train(std::span<char*> argv) {
  auto o = parse_options(argv, {"--inputs"}, {"--output", "--args"}, {});
  if (!o) return usage_error(o.error().message);
  TrainOptions opt;
  if (const auto* v = o->find("--inputs")) {
    opt.inputs.assign(v->begin(), v->end());
  } else {
    auto dirs = sandbox_inputs("/ward/inputs");
    if (!dirs) return report(std::unexpected(dirs.error()));
    opt.inputs = std::move(*dirs);
  }
  const auto* output = o->find("--output");
  opt.output = output ? fs::path(output->front()) : fs::path("/ward/output");
  if (const auto* args = o->find("--args")) {
    opt.args = args->front();
  } else if (std::error_code ec; fs::exists("/ward/args.json", ec)) {
    opt.args = "/ward/args.json";
  }
  return report(train(opt));
}

int run_evaluate(std::span<char*> argv) {
  auto o = parse_options(argv, {}, {"--model", "--data"}, {"--json", "--rows-json"});
  if (!o) return usage_error(o.error().message);
  if (!o->find("--model") || !o->find("--data")) return usage_error("evaluate needs --model and --data");
  if (o->find("--json") && o->find("--rows-json"))
    return usage_error("--json and --rows-json exclude each other");
  const EvaluateOutput output = o->find("--json")        ? EvaluateOutput::Json
                                : o->find("--rows-json") ? EvaluateOutput::Rows
                                                         : EvaluateOutput::Text;
  return report(evaluate(o->find("--model")->front(), o->find("--data")->front(), output));
}

int run_split(std::span<char*> argv) {
  auto o = parse_options(argv, {}, {"--data", "--out", "--seed"}, {});
  if (!o) return usage_error(o.error().message);
  if (!o->find("--data") || !o->find("--out")) return usage_error("split needs --data and --out");
  std::uint64_t seed = 42;
  if (const auto* v = o->find("--seed")) {
    const auto parsed = parse_unsigned(v->front());
    if (!parsed) return usage_error("--seed must be a non-negative integer");
    seed = *parsed;
  }
  return report(split(o->find("--data")->front(), o->find("--out")->front(), seed));
}

int run_serve(std::span<char*> argv) {
  auto o = parse_options(argv, {}, {"--model", "--port", "--host", "--args"}, {});
  if (!o) return usage_error(o.error().message);
  ServeOptions opt;
  if (const auto* v = o->find("--model")) opt.model = v->front();
  if (const auto* v = o->find("--host")) opt.host = v->front();
  if (const auto* v = o->find("--port")) {
    const auto port = parse_unsigned(v->front());
    if (!port || *port > 65535) return usage_error("--port must be a number from 0 to 65535");
    opt.port = static_cast<std::uint16_t>(*port);
  }
  if (const auto* args = o->find("--args")) {
    opt.args = args->front();
  } else if (std::error_code ec; fs::exists("/ward/args.json", ec)) {
    opt.args = "/ward/args.json";
  }
  return report(serve(opt));
}

}  // namespace

int main(int argc, char** argv) {
  const std::span<char*> args(argv + 1, static_cast<std::size_t>(std::max(argc - 1, 0)));
  if (args.empty()) return run_train(args);
  const std::string_view command = args[0];
  const auto rest = args.subspan(1);
  if (command == "train") return run_train(rest);
  if (command == "evaluate") return run_evaluate(rest);
  if (command == "split") return run_split(rest);
  if (command == "serve") return run_serve(rest);
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  return usage_error("unknown command " + std::string(command));
}
