// order-scan: a data-scanning engine for bench/order_vs_direct.sh. It reads
// every byte of every regular file under its inputs (sorted by path) and
// writes what a data-quality or ETL pass would: the bytes, lines and
// comma-separated fields, the rows whose last field is "1" (the positive
// class of a CSV with the target last), and a 64-bit checksum of the bytes.
// Its run time is what reading and looking at the data costs, no more, so an
// order of it shows the loader's own overhead at its largest share.
//
// usage: order-scan [--inputs PATH...] [--output DIR]
//   No arguments: what the sandbox runs, inputs /ward/inputs/<n>/, output
//   /ward/output/. Writes DIR/scan.json and prints the same line to stdout.
//
// Built static (the binary is the whole rootfs of its engine image):
//   c++ -std=c++20 -O3 -static -o order-scan bench/order_vs_direct_scan.cpp
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Totals {
  std::uint64_t files = 0, bytes = 0, lines = 0, commas = 0, positives = 0;
  std::uint64_t sum = 0, sum2 = 0;  // Fletcher-style over 64-bit little-endian words
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "order-scan: %s\n", what.c_str());
  std::exit(1);
}

void scan_file(const fs::path& path, Totals& t, std::vector<unsigned char>& buf) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path.string() + ": cannot open: " + std::strerror(errno));
  unsigned char prev[2] = {0, 0};  // the two bytes before the buffer
  std::size_t tail = 0;            // bytes not yet folded into the checksum (< 8)
  unsigned char carry[8] = {};
  for (;;) {
    const ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      die(path.string() + ": read error: " + std::strerror(errno));
    }
    if (r == 0) break;
    const std::size_t n = static_cast<std::size_t>(r);
    const unsigned char* p = buf.data();
    t.bytes += n;
    std::uint64_t lines = 0, commas = 0, positives = 0;
    // The first two bytes look back into the previous buffer.
    for (std::size_t i = 0; i < std::min<std::size_t>(n, 2); ++i) {
      const unsigned char b1 = i == 0 ? prev[1] : p[0];
      const unsigned char b2 = i == 0 ? prev[0] : prev[1];
      lines += p[i] == '\n';
      commas += p[i] == ',';
      positives += p[i] == '\n' && b1 == '1' && (b2 == ',' || b2 == '\n');
    }
    for (std::size_t i = 2; i < n; ++i) {
      lines += p[i] == '\n';
      commas += p[i] == ',';
      positives += (p[i] == '\n') & (p[i - 1] == '1') & ((p[i - 2] == ',') | (p[i - 2] == '\n'));
    }
    t.lines += lines;
    t.commas += commas;
    t.positives += positives;
    if (n >= 2) {
      prev[0] = p[n - 2];
      prev[1] = p[n - 1];
    } else {
      prev[0] = prev[1];
      prev[1] = p[0];
    }
    // Checksum: whole words; a partial word carries into the next buffer.
    std::size_t i = 0;
    while (tail != 0 && tail < 8 && i < n) {
      carry[tail++] = p[i++];
      if (tail == 8) {
        std::uint64_t w;
        std::memcpy(&w, carry, 8);
        t.sum += w;
        t.sum2 += t.sum;
        tail = 0;
      }
    }
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      t.sum += w;
      t.sum2 += t.sum;
    }
    for (; i < n && tail < 8; ++i) carry[tail++] = p[i];
  }
  if (tail != 0) {
    std::memset(carry + tail, 0, 8 - tail);
    std::uint64_t w;
    std::memcpy(&w, carry, 8);
    t.sum += w;
    t.sum2 += t.sum;
  }
  ::close(fd);
  ++t.files;
}

std::vector<fs::path> files_under(const fs::path& input) {
  std::error_code ec;
  if (fs::is_regular_file(input, ec)) return {input};
  if (!fs::is_directory(input, ec)) die(input.string() + ": no such file or directory");
  std::vector<fs::path> out;
  for (fs::recursive_directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) out.push_back(it->path());
  }
  if (ec) die(input.string() + ": cannot list: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  fs::path output = "/ward/output";
  bool sandbox = argc == 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--output" && i + 1 < argc) {
      output = argv[++i];
    } else if (a == "--inputs") {
      while (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) inputs.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: order-scan [--inputs PATH...] [--output DIR]\n");
      return 2;
    }
  }
  if (sandbox || inputs.empty()) {
    std::error_code ec;
    for (int n = 0; fs::exists(fs::path("/ward/inputs") / std::to_string(n), ec); ++n) {
      inputs.push_back(fs::path("/ward/inputs") / std::to_string(n));
    }
    if (inputs.empty()) die("no inputs");
  }
  Totals t;
  std::vector<unsigned char> buf(1 << 20);
  for (const auto& input : inputs) {
    for (const auto& f : files_under(input)) scan_file(f, t, buf);
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"files\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"fields\":%" PRIu64
                ",\"positives\":%" PRIu64 ",\"checksum\":\"%016" PRIx64 "%016" PRIx64 "\"}\n",
                t.files, t.bytes, t.lines, t.commas + t.lines, t.positives, t.sum, t.sum2);
  std::fputs(line, stdout);
  const fs::path out = output / "scan.json";
  std::FILE* f = std::fopen(out.c_str(), "wb");
  if (f == nullptr) die(out.string() + ": cannot create: " + std::strerror(errno));
  const bool ok = std::fputs(line, f) >= 0;
  if (std::fclose(f) != 0 || !ok) die(out.string() + ": write error");
  return 0;
}
