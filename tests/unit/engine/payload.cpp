// The engine the sandbox tests and the order e2e tests run: a static program
// (no libraries needed in its rootfs) whose first argument picks what it
// tries. The check-* and net modes exit 0 when the sandbox behaved as the
// test expects and say why not on stderr otherwise; copy, connect and slow
// act as an engine of an order would (tests/e2e/order.sh); fill, tree,
// special, sparse, empties and deep write outputs for the output cap's tests.
// serve PORT is a service engine (tests/e2e/serve.sh, bench/serve_vs_direct.sh):
// HTTP/1.1 keep-alive on 127.0.0.1:PORT, GET /ping answers "pong", GET
// /stream?n=N&ms=M sends N server-sent events M ms apart, chunked, then with
// &tokens=T an OpenAI-style usage event; GET /usage?tokens=T answers JSON
// with "usage": {"total_tokens": T} (what the gateway's meter reads).
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

extern char** environ;

namespace {

std::string slurp(const char* path) {
  std::string out;
  FILE* f = fopen(path, "rb");
  if (!f) return "<missing>";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

bool spit(const char* path, const std::string& data) {
  FILE* f = fopen(path, "wb");
  if (!f) return false;
  const bool ok = fwrite(data.data(), 1, data.size(), f) == data.size();
  return fclose(f) == 0 && ok;
}

int expect(bool ok, const char* what) {
  if (!ok) fprintf(stderr, "payload: %s (errno %d: %s)\n", what, errno, strerror(errno));
  return ok ? 0 : 1;
}

// Inputs and / are read-only, the output is writable, args.json is readable.
int check_io() {
  int bad = 0;
  const std::string args = slurp("/ward/args.json");
  const std::string input = slurp("/ward/inputs/0/data.txt");
  bad |= expect(args != "<missing>", "cannot read /ward/args.json");
  bad |= expect(input != "<missing>", "cannot read /ward/inputs/0/data.txt");
  bad |= expect(!spit("/ward/inputs/0/data.txt", "changed"), "could overwrite an input");
  bad |= expect(!spit("/ward/inputs/0/new.txt", "x"), "could create a file among the inputs");
  bad |= expect(!spit("/ward/args.json", "{}"), "could overwrite args.json");
  bad |= expect(!spit("/bin/new", "x"), "could write into the image");
  bad |= expect(!spit("/new", "x"), "could write into /");
  bad |= expect(spit("/tmp/scratch", "x"), "cannot write /tmp");
  bad |= expect(spit("/ward/output/result.txt", args + "|" + input), "cannot write the output");
  return bad;
}

// No route anywhere: connecting to the host's listener on 127.0.0.1 fails,
// and the only interface is loopback.
int check_network(int port) {
  int bad = 0;
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s >= 0) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bad |= expect(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0,
                  "reached the host's listener");
    close(s);
  }
  const std::string dev = slurp("/proc/net/dev");
  int interfaces = 0;
  for (size_t pos = dev.find(':'); pos != std::string::npos; pos = dev.find(':', pos + 1)) ++interfaces;
  bad |= expect(interfaces == 1 && dev.find("lo:") != std::string::npos, "sees interfaces besides loopback");
  return bad;
}

int alloc(long megabytes) {
  for (long i = 0; i < megabytes; i += 16) {
    char* p = static_cast<char*>(malloc(16 << 20));
    if (!p) return 3;
    memset(p, 1, 16 << 20);
  }
  return 0;
}

int fork_bomb(int n) {
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0) {
      printf("fork %d failed\n", i);
      return 0;
    }
  }
  return expect(false, "every fork succeeded");
}

int write_output(const char* name, long bytes) {
  char path[256];
  snprintf(path, sizeof path, "/ward/output/%s", name);
  FILE* f = fopen(path, "wb");
  if (!f) return expect(false, "cannot create the output");
  static char block[65536];
  memset(block, 'x', sizeof block);
  for (long done = 0; done < bytes; done += static_cast<long>(sizeof block))
    if (fwrite(block, 1, sizeof block, f) != sizeof block) return 4;
  return fclose(f) == 0 ? 0 : 4;
}

// Copies every input file to /ward/output/<n>-<name>, and args.json.
int copy_inputs() {
  DIR* inputs = opendir("/ward/inputs");
  if (!inputs) return expect(false, "cannot list /ward/inputs");
  int bad = 0;
  while (const dirent* n = readdir(inputs)) {
    if (n->d_name[0] == '.') continue;
    const std::string dir = std::string("/ward/inputs/") + n->d_name;
    DIR* files = opendir(dir.c_str());
    if (!files) continue;
    while (const dirent* f = readdir(files)) {
      const std::string from = dir + "/" + f->d_name;
      struct stat st {};
      if (stat(from.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      const std::string to = std::string("/ward/output/") + n->d_name + "-" + f->d_name;
      bad |= expect(spit(to.c_str(), slurp(from.c_str())), "cannot copy an input");
      printf("copied %s\n", from.c_str());
    }
    closedir(files);
  }
  closedir(inputs);
  bad |= expect(!spit("/ward/inputs/0/x", "x"), "could write among the inputs");
  bad |= expect(spit("/ward/output/args.json", slurp("/ward/args.json")), "cannot copy args.json");
  return bad;
}

// An engine trying to send data out: exits 3 when it cannot connect.
int connect_out(int port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 3;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool reached = connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  printf("connect 127.0.0.1:%d: %s\n", port, reached ? "connected" : strerror(errno));
  close(s);
  return reached ? 0 : 3;
}

// Output modes for the output cap: an engine that writes past it and
// ignores every error, a tree to deliver byte for byte, and outputs that
// must not be delivered (links, FIFOs, sparse files, too many files).
int fill(int files, long bytes) {
  for (int i = 0; i < files; ++i) (void)write_output(("fill-" + std::to_string(i)).c_str(), bytes);
  return 0;
}

std::string pattern(long bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  for (long i = 0; i < bytes; ++i) out[static_cast<size_t>(i)] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return out;
}

int write_tree() {
  int bad = 0;
  bad |= expect(mkdir("/ward/output/a", 0755) == 0 && mkdir("/ward/output/a/b", 0750) == 0 &&
                    mkdir("/ward/output/d", 0755) == 0 && mkdir("/ward/output/d/e", 0700) == 0,
                "cannot make directories");
  bad |= expect(spit("/ward/output/top.txt", "top\n"), "cannot write top.txt");
  bad |= expect(spit("/ward/output/a/b/c.bin", pattern(300000)), "cannot write a/b/c.bin");
  bad |= expect(spit("/ward/output/a/empty", ""), "cannot write a/empty");
  bad |= expect(spit("/ward/output/a/run.sh", "#!/bin/sh\n") && chmod("/ward/output/a/run.sh", 0755) == 0,
                "cannot write a/run.sh");
  bad |= expect(spit("/ward/output/a/private", "p") && chmod("/ward/output/a/private", 0600) == 0,
                "cannot write a/private");
  return bad;
}

int unreadable() {
  int bad = expect(spit("/ward/output/secret.txt", "s") && chmod("/ward/output/secret.txt", 0) == 0,
                   "cannot write secret.txt");
  bad |= expect(mkdir("/ward/output/closed", 0755) == 0 && spit("/ward/output/closed/inner.txt", "i") &&
                    chmod("/ward/output/closed", 0) == 0,
                "cannot make closed/");
  return bad;
}

int special(const std::string& kind) {
  int bad = expect(spit("/ward/output/ok.txt", "ok"), "cannot write ok.txt");
  if (kind == "symlink")
    bad |= expect(symlink("/etc/passwd", "/ward/output/link") == 0, "cannot make a symlink");
  if (kind == "fifo") bad |= expect(mkfifo("/ward/output/fifo", 0644) == 0, "cannot make a FIFO");
  if (kind == "socket") {
    const int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, "/ward/output/sock");
    bad |= expect(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "cannot bind a socket");
    close(s);
  }
  return bad;
}

int sparse(int files, long bytes) {
  int bad = 0;
  for (int i = 0; i < files; ++i) {
    const std::string path = "/ward/output/sparse-" + std::to_string(i);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bad |= expect(fd >= 0 && ftruncate(fd, bytes) == 0, "cannot make a sparse file");
    if (fd >= 0) close(fd);
  }
  return bad;
}

int empties(int files) {
  for (int i = 0; i < files; ++i) {
    const int fd = open(("/ward/output/empty-" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
  }
  return 0;
}

int deep(int levels) {
  int bad = expect(chdir("/ward/output") == 0, "cannot enter the output");
  for (int i = 0; i < levels && !bad; ++i)
    bad |= expect(mkdir("d", 0755) == 0 && chdir("d") == 0, "cannot nest");
  return bad | expect(spit("leaf", "leaf"), "cannot write the leaf");
}

int describe_env() {
  std::string out;
  for (char** e = environ; *e; ++e) out += std::string(*e) + "\n";
  char cwd[512] = "";
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
  out += "cwd=" + std::string(cwd) + "\nuid=" + std::to_string(getuid()) + "\n";
  return spit("/ward/output/env.txt", out) ? 0 : 1;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

long query_number(const std::string& target, const char* name, long fallback) {
  const std::string key = std::string(name) + "=";
  const size_t at = target.find(key);
  return at == std::string::npos ? fallback : atol(target.c_str() + at + key.size());
}

// One client connection: requests without bodies, answered in turn.
void* serve_connection(void* arg) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  std::string buf;
  char chunk[4096];
  for (;;) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0 || buf.size() > 65536) {
        close(fd);
        return nullptr;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    const std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    const size_t sp = head.find(' ');
    const std::string target = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
    bool ok;
    if (target.rfind("/stream", 0) == 0) {
      const long n = query_number(target, "n", 5), ms = query_number(target, "ms", 100);
      ok = send_all(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (long i = 0; ok && i < n; ++i) {
        if (i > 0) {
          const timespec pause{ms / 1000, (ms % 1000) * 1000000};
          nanosleep(&pause, nullptr);
        }
        const std::string event = "data: event " + std::to_string(i) + "\n\n";
        char size[32];
        snprintf(size, sizeof size, "%zx\r\n", event.size());
        ok = send_all(fd, size + event + "\r\n");
      }
      const long tokens = query_number(target, "tokens", -1);
      if (ok && tokens >= 0) {
        const std::string event = "data: {\"usage\":{\"total_tokens\":" + std::to_string(tokens) + "}}\n\n";
        char size[32];
        snprintf(size, sizeof size, "%zx\r\n", event.size());
        ok = send_all(fd, size + event + "\r\n");
      }
      ok = ok && send_all(fd, "0\r\n\r\n");
    } else if (target.rfind("/usage", 0) == 0) {
      const std::string body =
          "{\"usage\":{\"total_tokens\":" + std::to_string(query_number(target, "tokens", 0)) + "}}";
      ok = send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body);
    } else if (target == "/ping") {
      ok = send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\npong");
    } else {
      ok = send_all(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    if (!ok) break;
  }
  close(fd);
  return nullptr;
}

int serve(int port) {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(s, 128) != 0) {
    fprintf(stderr, "payload: cannot listen on port %d: %s\n", port, strerror(errno));
    return 1;
  }
  for (;;) {
    const int c = accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    if (pthread_create(&t, nullptr, serve_connection, reinterpret_cast<void*>(static_cast<intptr_t>(c))) !=
        0) {
      close(c);
      continue;
    }
    pthread_detach(t);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const char* arg = argc > 2 ? argv[2] : "0";
  if (mode == "exit") return atoi(arg);
  if (mode == "check-io") return check_io();
  if (mode == "net") return check_network(atoi(arg));
  if (mode == "sleep") {  // a child too, to show the whole tree dies
    if (fork() == 0) pause();
    sleep(1000);
    return 0;
  }
  if (mode == "alloc") return alloc(atol(arg));
  if (mode == "forkbomb") return fork_bomb(atoi(arg));
  if (mode == "write") return write_output("big", atol(arg));
  if (mode == "write-many") {
    for (int i = 0; i < 8; ++i)
      if (int r = write_output(("part" + std::to_string(i)).c_str(), atol(arg)); r != 0) return r;
    return 0;
  }
  if (mode == "spam") {
    static char line[1024];
    memset(line, 'y', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (long done = 0; done < atol(arg); done += static_cast<long>(sizeof line))
      fwrite(line, 1, sizeof line, stdout);
    return 0;
  }
  if (mode == "env") return describe_env();
  if (mode == "fill") return fill(atoi(arg), argc > 3 ? atol(argv[3]) : 0);
  if (mode == "tree") return write_tree();
  if (mode == "unreadable") return unreadable();
  if (mode == "special") return special(arg);
  if (mode == "sparse") return sparse(atoi(arg), argc > 3 ? atol(argv[3]) : 0);
  if (mode == "empties") return empties(atoi(arg));
  if (mode == "deep") return deep(atoi(arg));
  if (mode == "copy") return copy_inputs();
  if (mode == "connect") return connect_out(atoi(arg));
  if (mode == "serve") return serve(atoi(arg));
  if (mode == "slow") {
    const int rc = copy_inputs();
    sleep(static_cast<unsigned>(atoi(arg)));
    return rc;
  }
  fprintf(stderr, "payload: unknown mode '%s'\n", mode.c_str());
  return 2;
}
