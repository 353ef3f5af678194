// A real nginx with WebDAV PUT, started by the test in a temporary directory:
// blobs are served from and written to <dir>/www/blobs/.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <vector>

extern char** environ;

namespace ward::store::testing {

inline constexpr const char* kNginx = "/usr/sbin/nginx";

struct TlsFiles {
  std::filesystem::path certificate;
  std::filesystem::path key;
};

class NginxServer {
 public:
  NginxServer(const std::filesystem::path& dir, std::optional<TlsFiles> tls)
      : dir_(dir), tls_(std::move(tls)) {}
  ~NginxServer() { stop(); }
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  // Starts nginx on a free port; false (and `why`) when it would not start.
  bool start(std::string& why) {
    std::filesystem::create_directories(dir_ / "www" / "blobs");
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      write_config();
      const std::string conf = (dir_ / "nginx.conf").string();
      const std::string prefix = dir_.string() + "/";
      const std::string error_log = (dir_ / "error.log").string();
      std::vector<std::string> args = {kNginx, "-p", prefix, "-c", conf, "-e", error_log};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      if (::posix_spawn(&pid_, kNginx, nullptr, nullptr, argv.data(), environ) != 0) {
        why = "cannot run " + std::string(kNginx);
        pid_ = -1;
        return false;
      }
      if (wait_until_listening()) return true;
      stop();  // most likely the port was taken meanwhile: try another
    }
    std::ifstream log(dir_ / "error.log");
    why = "nginx did not start: " + std::string(std::istreambuf_iterator<char>(log), {});
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::filesystem::path blobs() const { return dir_ / "www" / "blobs"; }
  std::string origin() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  static bool can_connect(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  bool wait_until_listening() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (can_connect(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void write_config() const {
    const std::string d = dir_.string();
    std::ofstream conf(dir_ / "nginx.conf", std::ios::trunc);
    // One process: nothing to switch users for, and one pid to stop.
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
         << "pid " << d << "/nginx.pid;\nerror_log " << d << "/error.log;\n"
         << "events { worker_connections 64; }\n"
         << "http {\n"
         << "  access_log " << d << "/access.log;\n"
         << "  client_body_temp_path " << d << "/client_body;\n"
         << "  proxy_temp_path " << d << "/proxy;\n"
         << "  fastcgi_temp_path " << d << "/fastcgi;\n"
         << "  uwsgi_temp_path " << d << "/uwsgi;\n"
         << "  scgi_temp_path " << d << "/scgi;\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << port_ << (tls_ ? " ssl" : "") << ";\n";
    if (tls_) {
      conf << "    ssl_certificate " << tls_->certificate.string() << ";\n"
           << "    ssl_certificate_key " << tls_->key.string() << ";\n";
    }
    conf << "    root " << d << "/www;\n"
         << "    location /blobs/ { dav_methods PUT; create_full_put_path on; client_max_body_size 0; }\n"
         << "    location /moved/ { return 302 /blobs/; }\n"
         << "  }\n"
         << "}\n";
  }

  std::filesystem::path dir_;
  std::optional<TlsFiles> tls_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace ward::store::testing
