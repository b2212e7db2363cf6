// TcpRelay: the userspace TCP dataplane in native code. N worker threads,
// each with its own epoll, accept from shared listening sockets
// (EPOLLEXCLUSIVE), pick a backend by the frontend's policy, connect without
// blocking and relay bytes with read(2)/send(2). JS only configures it and
// reads its counters; no JS runs per connection or per byte.
//
// The connection rules are TcpSession's (src/mesh/dataplane/userspace/
// tcp-session.ts): until the backend's first byte the client's bytes are
// held (up to the replay limit) and replayed to the next backend when one
// is refused, times out or closes before answering; then the connection is
// committed, half-closes are passed on and a reset on one side resets the
// other.
#pragma once

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace shoal {
namespace relay {

enum Policy { kRoundRobin = 0, kLeastConnections = 1, kSourceHash = 2 };

// One backend of one frontend, by its key (task id @ address:port): its load
// and counters live as long as the frontend lists it or it has connections.
struct BackendState {
  uint32_t key = 0;
  std::string id;
  sockaddr_storage addr{};
  socklen_t addrlen = 0;
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> opened{0};
  std::atomic<uint64_t> connect_errors{0};
  // Smooth weighted round-robin score; guarded by the frontend's mutex.
  int64_t rr_current = 0;
};

struct ConfigBackend {
  std::shared_ptr<BackendState> state;
  int64_t weight;
};

// One version of a frontend's settings: read by the workers through a shared_ptr copy.
struct Config {
  int policy = kRoundRobin;
  int64_t affinity_timeout_ms = 0;
  int64_t max_connections = 0;
  int64_t max_per_backend = 0;
  int64_t idle_timeout_ms = 0;
  int proxy_protocol = 0;  // 0 none, 1 v1, 2 v2
  std::vector<ConfigBackend> backends;
};

// Counters one worker thread writes for one frontend (single writer, so
// plain load+store; readers sum over the workers).
struct alignas(64) FrontendCounters {
  std::atomic<uint64_t> opened{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> connect_errors{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> replays{0};
  std::atomic<uint64_t> limit_frontend{0};
  std::atomic<uint64_t> limit_backend{0};
  std::atomic<uint64_t> limit_pending{0};
};

inline void Bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct Affinity {
  uint32_t key;
  int64_t last_seen_ms;
};

struct Frontend : std::enable_shared_from_this<Frontend> {
  uint32_t key = 0;
  int listen_fd = -1;
  std::atomic<bool> listening{false};
  // Workers that still have the listening socket in their epoll; the last to let go closes it.
  std::atomic<int> listen_refs{0};
  std::atomic<int64_t> active{0};
  std::atomic<int64_t> pending{0};
  std::unique_ptr<FrontendCounters[]> counters;

  std::mutex mu;  // guards everything below
  std::shared_ptr<const Config> config;
  std::unordered_map<uint32_t, std::shared_ptr<BackendState>> known;
  std::unordered_map<std::string, Affinity> affinity;
  uint64_t picks = 0;

  ~Frontend();
};

struct Worker;

struct Options {
  int threads = 1;
  int64_t connect_timeout_ms = 5000;
  size_t replay_bytes = 64 * 1024;
  int64_t max_pending = 1024;
  int64_t idle_sweep_ms = 1000;
};

// The relay: owns the workers and the frontends by key.
class Engine {
 public:
  explicit Engine(const Options& options);
  ~Engine();
  // Starts the workers; false with errno set when one cannot start.
  bool Start();
  // Binds and listens; returns 0 or a positive errno (syscall names which call failed).
  int Listen(uint32_t key, const sockaddr_storage& addr, socklen_t len, const char** syscall, int* port);
  // Replaces a frontend's settings and backends.
  // `fresh` holds one new state per config backend; states of keys the frontend knows are kept instead.
  void Configure(uint32_t key, std::shared_ptr<Config> config, std::vector<std::shared_ptr<BackendState>> fresh);
  // Stops accepting at once; open connections run on.
  void Unlisten(uint32_t key);
  int64_t Active(uint32_t key);
  // Runs the idle sweep on every worker now, with the idle clock set to idle_now_ms
  // from here on (tests drive it; before the first call it is the monotonic clock).
  void SweepIdle(int64_t idle_now_ms);
  // The monotonic clock in milliseconds, the idle clock's base.
  static int64_t ClockMs();
  // The clock idleness is measured on: monotonic, or the value SweepIdle set.
  int64_t IdleNowMs() const;
  // Every connection closed, the workers joined; safe twice.
  void Close();

  struct FrontendRow {
    uint32_t key;
    int64_t active;
    uint64_t opened, bytes_in, bytes_out, connect_errors, retries, replays, limit_frontend, limit_backend, limit_pending;
  };
  struct BackendRow {
    uint32_t frontend, key;
    int64_t active;
    uint64_t opened, connect_errors;
  };
  // Cumulative counters; frontends closed with nothing open and backends gone
  // with nothing open are reported one last time, then forgotten.
  void Stats(std::vector<FrontendRow>* frontends, std::vector<BackendRow>* backends, std::vector<double>* latencies);

  // Used by workers.
  const Options& options() const { return options_; }

 private:
  std::shared_ptr<Frontend> FrontendFor(uint32_t key, bool create);

  Options options_;
  // -1: idleness on the monotonic clock; else the idle clock a test set.
  std::atomic<int64_t> manual_idle_ms_{-1};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex mu_;  // guards frontends_
  std::unordered_map<uint32_t, std::shared_ptr<Frontend>> frontends_;
  bool closed_ = false;
};

}  // namespace relay
}  // namespace shoal
