// The TcpRelay engine: workers, connections, backend choice. See tcp_relay.h.
#include "tcp_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

namespace shoal {
namespace relay {

namespace {

// Bytes one read(2) takes at most; also the size of each worker's scratch buffer.
constexpr size_t kReadBytes = 64 * 1024;
// Events one epoll_wait returns at most.
constexpr int kMaxEvents = 256;
// Connections one readiness of a listening socket accepts before other work gets a turn.
constexpr int kAcceptsPerWake = 64;
// Longest epoll_wait sleep: the connect-timeout and idle checks run at least this often.
constexpr int kTickMs = 100;
// Source-hash looks for expired affinities once per this many picks (balancer.ts).
constexpr uint64_t kAffinitySweepEveryPicks = 1024;
// Low bits of epoll data saying what the pointer is.
constexpr uintptr_t kTagListener = 0, kTagClient = 1, kTagUpstream = 2, kTagWake = 3, kTagMask = 3;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// 32-bit FNV-1a with balancer.ts's final avalanche, over the same text, so both paths hash alike.
uint32_t Fnv1a(const std::string& text) {
  uint32_t h = 0x811c9dc5u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x01000193u;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  return h;
}

// Address text as Node prints remoteAddress (IPv4-mapped IPv6 stays mapped).
std::string AddressText(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text, sizeof(text));
  }
  return text;
}

uint16_t PortOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

// The address as IPv4 when it is IPv4 or IPv4-mapped IPv6; false otherwise.
bool AsIpv4(const sockaddr_storage& addr, in_addr* out) {
  if (addr.ss_family == AF_INET) {
    *out = reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr;
    return true;
  }
  if (addr.ss_family == AF_INET6) {
    const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      memcpy(out, a6.s6_addr + 12, 4);
      return true;
    }
  }
  return false;
}

// The PROXY protocol header (proxy-protocol.ts, haproxy's proxy-protocol.txt) for src -> dst.
std::string ProxyHeader(int version, const sockaddr_storage& src, const sockaddr_storage& dst) {
  in_addr s4, d4;
  bool v4 = AsIpv4(src, &s4) && AsIpv4(dst, &d4);
  bool v6 = !v4 && src.ss_family == AF_INET6 && dst.ss_family == AF_INET6;
  uint16_t sport = PortOf(src), dport = PortOf(dst);
  if (version == 1) {
    if (!v4 && !v6) return "PROXY UNKNOWN\r\n";
    char st[INET6_ADDRSTRLEN], dt[INET6_ADDRSTRLEN], line[160];
    if (v4) {
      inet_ntop(AF_INET, &s4, st, sizeof(st));
      inet_ntop(AF_INET, &d4, dt, sizeof(dt));
    } else {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&src)->sin6_addr, st, sizeof(st));
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&dst)->sin6_addr, dt, sizeof(dt));
    }
    int n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n", v4 ? "TCP4" : "TCP6", st, dt, sport, dport);
    return std::string(line, n);
  }
  static const unsigned char kSignature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
  std::string h(reinterpret_cast<const char*>(kSignature), 12);
  if (!v4 && !v6) {
    h += static_cast<char>(0x20);  // version 2, LOCAL
    h += static_cast<char>(0x00);  // UNSPEC
    h += std::string(2, '\0');
    return h;
  }
  size_t addr_bytes = v4 ? 4 : 16;
  uint16_t length = static_cast<uint16_t>(addr_bytes * 2 + 4);
  h += static_cast<char>(0x21);              // version 2, PROXY
  h += static_cast<char>(v4 ? 0x11 : 0x21);  // TCP over IPv4 / IPv6
  h += static_cast<char>(length >> 8);
  h += static_cast<char>(length & 0xff);
  if (v4) {
    h.append(reinterpret_cast<const char*>(&s4), 4);
    h.append(reinterpret_cast<const char*>(&d4), 4);
  } else {
    h.append(reinterpret_cast<const char*>(reinterpret_cast<const sockaddr_in6*>(&src)->sin6_addr.s6_addr), 16);
    h.append(reinterpret_cast<const char*>(reinterpret_cast<const sockaddr_in6*>(&dst)->sin6_addr.s6_addr), 16);
  }
  h += static_cast<char>(sport >> 8);
  h += static_cast<char>(sport & 0xff);
  h += static_cast<char>(dport >> 8);
  h += static_cast<char>(dport & 0xff);
  return h;
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Close so the peer gets a reset (RST) rather than a FIN.
void CloseWithReset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

// The error a socket holds, consumed; 0 when none.
int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

bool Retryable(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// Sends what waits in buf from *off on; false when the socket failed for good.
bool SendPending(int fd, std::string* buf, size_t* off) {
  while (*off < buf->size()) {
    ssize_t w = send(fd, buf->data() + *off, buf->size() - *off, MSG_NOSIGNAL);
    if (w < 0) return Retryable(errno);
    *off += w;
  }
  buf->clear();
  *off = 0;
  return true;
}

// Sends n fresh bytes behind whatever still waits in buf; what the socket does not take waits there. False when it failed for good.
bool Forward(int fd, const char* data, size_t n, std::string* buf, size_t* off) {
  if (*off < buf->size()) {
    buf->append(data, n);
    return true;
  }
  buf->assign(data, n);
  *off = 0;
  return SendPending(fd, buf, off);
}

}  // namespace

Frontend::~Frontend() {
  if (listen_fd >= 0) close(listen_fd);
}

// ---- connections -------------------------------------------------------------

// connecting: a backend connect is under way; the client's bytes are held.
// unanswered: connected, nothing back yet, everything the client sent is held.
// committed: the backend answered (or the client outgrew the replay limit).
// done: over; the struct is freed after the current event batch.
enum Phase { kConnecting, kUnanswered, kCommitted, kDone };

struct Conn {
  Worker* worker;
  std::shared_ptr<Frontend> fe;
  FrontendCounters* counters;
  int cfd = -1;
  int ufd = -1;
  uint32_t cmask = 0;  // epoll interest registered for cfd
  uint32_t umask = 0;
  bool creg = false;  // cfd is in the worker's epoll
  bool ureg = false;
  Phase phase = kConnecting;
  std::shared_ptr<BackendState> backend;
  std::vector<uint32_t> tried;
  std::string client_text;  // for source-hash
  std::string proxy_header;
  std::string replay;  // client bytes held for a replay; dropped at commit
  bool holding = true;  // replay still kept
  std::string c2u;  // bytes waiting for the backend to take them
  size_t c2u_off = 0;
  std::string u2c;  // bytes waiting for the client to take them
  size_t u2c_off = 0;
  bool client_eof = false;  // client's FIN read
  bool up_eof = false;      // backend's FIN read
  bool up_shut = false;     // our FIN sent to the backend
  bool client_shut = false; // our FIN sent to the client
  bool pending = true;      // counts in the frontend's pending connects
  int64_t last_active_ms = 0;
  int64_t connect_started_ns = 0;
  int64_t connect_deadline_ms = 0;
  Conn* prev = nullptr;  // the worker's list of every connection
  Conn* next = nullptr;
  Conn* cprev = nullptr;  // the worker's list of connects under way, by deadline
  Conn* cnext = nullptr;
  bool in_connecting = false;
  // The worker's batch in which ufd was opened: events of that batch tagged
  // upstream belong to the socket it replaced (closed since), not to this one.
  uint64_t ufd_batch = 0;
};

enum CommandKind { kSweep, kReleaseListener, kStop };

struct Command {
  CommandKind kind;
  std::shared_ptr<Frontend> fe;
};

struct Worker {
  Engine* engine = nullptr;
  int index = 0;
  int epfd = -1;
  int wakefd = -1;
  std::thread thread;
  std::mutex cmd_mu;
  std::vector<Command> commands;
  Conn* conns = nullptr;
  Conn* connecting_head = nullptr;
  Conn* connecting_tail = nullptr;
  std::vector<Conn*> dead;
  uint64_t batch = 0;  // epoll_wait calls so far
  std::vector<char> scratch;
  int64_t next_sweep_ms = 0;
  bool stopping = false;
  std::mutex lat_mu;
  std::vector<double> latencies;  // pairs: frontend key, seconds

  int64_t NowMs() const { return MonotonicNs() / 1000000; }
  void Post(Command cmd);
  void Run();
  void Drain();
  void OnAccept(const std::shared_ptr<Frontend>& fe);
  void Admit(const std::shared_ptr<Frontend>& fe, int fd, const sockaddr_storage& peer);
  void OnClient(Conn* c, uint32_t events);
  void OnUpstream(Conn* c, uint32_t events);
  void Attempt(Conn* c, const std::shared_ptr<BackendState>& b);
  void Connected(Conn* c);
  void Failed(Conn* c, bool connect_stage, bool graceful);
  void UpstreamError(Conn* c);
  void Abandon(Conn* c, bool reset);
  void Finish(Conn* c);
  void CloseUpstream(Conn* c, bool reset);
  void CloseClient(Conn* c, bool reset);
  void Settle(Conn* c);
  void Commit(Conn* c);
  bool FlushToUpstream(Conn* c);
  bool FlushToClient(Conn* c);
  void MaybeShut(Conn* c);
  void Update(Conn* c);
  void SetMask(int fd, bool* registered, uint32_t* current, uint32_t want, Conn* c, uintptr_t tag);
  void ConnectingAdd(Conn* c);
  void ConnectingRemove(Conn* c);
  void CheckTimers();
  void SweepIdle();
  void DestroyAll();
};

// ---- backend choice (balancer.ts, round-robin.ts) ------------------------------

namespace {

bool Tried(const std::vector<uint32_t>& tried, uint32_t key) {
  return std::find(tried.begin(), tried.end(), key) != tried.end();
}

bool HasRoom(const Config& cfg, const BackendState& b) {
  return cfg.max_per_backend <= 0 || b.active.load(std::memory_order_relaxed) < cfg.max_per_backend;
}

// One smooth weighted round-robin step among the eligible backends (the others keep their score).
template <typename F>
std::shared_ptr<BackendState> RoundRobinAmong(const Config& cfg, F eligible) {
  int64_t total = 0;
  const ConfigBackend* best = nullptr;
  int64_t best_score = 0;
  for (const ConfigBackend& b : cfg.backends) {
    if (b.weight <= 0 || !eligible(b)) continue;
    int64_t score = b.state->rr_current + b.weight;
    b.state->rr_current = score;
    total += b.weight;
    if (!best || score > best_score) {
      best = &b;
      best_score = score;
    }
  }
  if (!best) return nullptr;
  best->state->rr_current = best_score - total;
  return best->state;
}

// The backend for a new connection or a retry; nullptr when none can take it. Caller holds fe.mu.
std::shared_ptr<BackendState> Pick(Frontend& fe, const Config& cfg, const std::string& client,
                                   const std::vector<uint32_t>& tried, int64_t now_ms) {
  auto candidate = [&](const ConfigBackend& b) {
    return b.weight > 0 && !Tried(tried, b.state->key) && HasRoom(cfg, *b.state);
  };
  if (cfg.policy == kLeastConnections) {
    int64_t fewest = -1;
    for (const ConfigBackend& b : cfg.backends) {
      if (!candidate(b)) continue;
      int64_t n = b.state->active.load(std::memory_order_relaxed);
      if (fewest < 0 || n < fewest) fewest = n;
    }
    if (fewest < 0) return nullptr;
    return RoundRobinAmong(cfg, [&](const ConfigBackend& b) {
      return candidate(b) && b.state->active.load(std::memory_order_relaxed) == fewest;
    });
  }
  if (cfg.policy == kSourceHash) {
    if (++fe.picks % kAffinitySweepEveryPicks == 0) {
      for (auto it = fe.affinity.begin(); it != fe.affinity.end();) {
        if (now_ms - it->second.last_seen_ms >= cfg.affinity_timeout_ms) it = fe.affinity.erase(it);
        else ++it;
      }
    }
    const ConfigBackend* chosen = nullptr;
    auto remembered = fe.affinity.find(client);
    if (remembered != fe.affinity.end() && now_ms - remembered->second.last_seen_ms < cfg.affinity_timeout_ms) {
      for (const ConfigBackend& b : cfg.backends) {
        if (candidate(b) && b.state->key == remembered->second.key) chosen = &b;
      }
    }
    if (!chosen) {
      uint32_t best_score = 0;
      for (const ConfigBackend& b : cfg.backends) {
        if (!candidate(b)) continue;
        uint32_t score = Fnv1a(client + "|" + b.state->id);
        if (!chosen || score > best_score || (score == best_score && b.state->id < chosen->state->id)) {
          chosen = &b;
          best_score = score;
        }
      }
    }
    if (!chosen) return nullptr;
    fe.affinity[client] = Affinity{chosen->state->key, now_ms};
    return chosen->state;
  }
  return RoundRobinAmong(cfg, candidate);
}

// Whether some live untried backend exists but every such one is at the per-backend limit.
bool FullOnly(const Config& cfg, const std::vector<uint32_t>& tried) {
  bool any = false;
  for (const ConfigBackend& b : cfg.backends) {
    if (b.weight <= 0 || Tried(tried, b.state->key)) continue;
    any = true;
    if (HasRoom(cfg, *b.state)) return false;
  }
  return any;
}


}  // namespace

// ---- worker ------------------------------------------------------------------

void Worker::Post(Command cmd) {
  {
    std::lock_guard<std::mutex> lock(cmd_mu);
    commands.push_back(std::move(cmd));
  }
  uint64_t one = 1;
  ssize_t ignored = write(wakefd, &one, sizeof(one));
  (void)ignored;
}

void Worker::Drain() {
  uint64_t value;
  ssize_t ignored = read(wakefd, &value, sizeof(value));
  (void)ignored;
  std::vector<Command> todo;
  {
    std::lock_guard<std::mutex> lock(cmd_mu);
    todo.swap(commands);
  }
  for (Command& cmd : todo) {
    switch (cmd.kind) {
      case kSweep:
        SweepIdle();
        break;
      case kReleaseListener:
        if (cmd.fe->listen_refs.fetch_sub(1) == 1) {
          close(cmd.fe->listen_fd);
          cmd.fe->listen_fd = -1;
        }
        break;
      case kStop:
        stopping = true;
        break;
    }
  }
}

void Worker::Run() {
  epoll_event events[kMaxEvents];
  next_sweep_ms = NowMs() + engine->options().idle_sweep_ms;
  while (!stopping) {
    int n = epoll_wait(epfd, events, kMaxEvents, kTickMs);
    if (n < 0 && errno != EINTR) break;
    batch++;
    bool woken = false;
    for (int i = 0; i < n; i++) {
      uintptr_t data = static_cast<uintptr_t>(events[i].data.u64);
      uintptr_t tag = data & kTagMask;
      void* ptr = reinterpret_cast<void*>(data & ~kTagMask);
      if (tag == kTagWake) {
        woken = true;
      } else if (tag == kTagListener) {
        // Alive: this worker still holds it until it runs the release command, after this batch.
        OnAccept(static_cast<Frontend*>(ptr)->shared_from_this());
      } else {
        Conn* c = static_cast<Conn*>(ptr);
        if (c->phase == kDone) continue;
        if (tag == kTagClient) OnClient(c, events[i].events);
        else if (c->ufd_batch != batch) OnUpstream(c, events[i].events);
        // else: a replay opened a new backend socket in this batch, after the
        // old one's reset was collected; the event is the old socket's.
      }
    }
    if (woken) Drain();
    CheckTimers();
    for (Conn* c : dead) delete c;
    dead.clear();
  }
  DestroyAll();
  for (Conn* c : dead) delete c;
  dead.clear();
}

void Worker::OnAccept(const std::shared_ptr<Frontend>& fe) {
  for (int i = 0; i < kAcceptsPerWake && fe->listening.load(); i++) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = accept4(fe->listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // EAGAIN: another worker took it; EMFILE and the like: the next wake tries again.
      break;
    }
    Admit(fe, fd, peer);
  }
}

void Worker::Admit(const std::shared_ptr<Frontend>& fe, int fd, const sockaddr_storage& peer) {
  FrontendCounters* k = &fe->counters[index];
  const Options& opt = engine->options();
  int64_t now = NowMs();
  std::string client = AddressText(peer);
  std::shared_ptr<BackendState> first;
  std::shared_ptr<const Config> cfg;
  // The limit that turns this client away, decided once under the lock so a pick is only made for a client let in.
  std::atomic<uint64_t>* limit = nullptr;
  {
    std::lock_guard<std::mutex> lock(fe->mu);
    cfg = fe->config;
    static const std::vector<uint32_t> kNone;
    if (cfg && cfg->max_connections > 0 && fe->active.load() >= cfg->max_connections) {
      limit = &k->limit_frontend;
    } else if (fe->pending.load() >= opt.max_pending) {
      limit = &k->limit_pending;
    } else if (cfg) {
      first = Pick(*fe, *cfg, client, kNone, now);
      if (!first && FullOnly(*cfg, kNone)) limit = &k->limit_backend;
    }
    // Counted in the same critical section that checked the limits: with the
    // counts raised after the unlock, every worker could pass the check at
    // limit - 1 and the frontend (or backend) end up threads - 1 over it.
    // Given back once each: the frontend's and pending in Finish (Settle),
    // the backend's in CloseUpstream.
    if (first) {
      fe->active.fetch_add(1);
      fe->pending.fetch_add(1);
      first->active.fetch_add(1);
    }
  }
  // Turned away by a limit: accepted by the kernel already, so closed at once.
  if (limit) {
    Bump(*limit);
    close(fd);
    return;
  }
  Bump(k->opened);
  if (!first) {
    // No backend takes connections: the client sees a reset, as with the JS path.
    CloseWithReset(fd);
    return;
  }
  Conn* c = new Conn();
  c->worker = this;
  c->fe = fe;
  c->counters = k;
  c->cfd = fd;
  c->client_text = std::move(client);
  c->last_active_ms = engine->IdleNowMs();
  SetNoDelay(fd);
  if (cfg->proxy_protocol) {
    sockaddr_storage local{};
    socklen_t llen = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    c->proxy_header = ProxyHeader(cfg->proxy_protocol, peer, local);
  }
  c->next = conns;
  if (conns) conns->prev = c;
  conns = c;
  Attempt(c, first);
  Update(c);
}

void Worker::OnClient(Conn* c, uint32_t events) {
  if (events & EPOLLERR) return Abandon(c, true);
  if ((events & (EPOLLIN | EPOLLHUP)) && !c->client_eof) {
    size_t cap = kReadBytes;
    if (c->phase == kConnecting) cap = std::min(cap, engine->options().replay_bytes - std::min(engine->options().replay_bytes, c->replay.size()));
    if (cap > 0) {
      ssize_t n = read(c->cfd, scratch.data(), cap);
      if (n > 0) {
        c->last_active_ms = engine->IdleNowMs();
        Bump(c->counters->bytes_in, n);
        if (c->phase == kConnecting) {
          c->replay.append(scratch.data(), n);
        } else {
          if (c->holding) {
            if (c->replay.size() + n <= engine->options().replay_bytes) c->replay.append(scratch.data(), n);
            else Commit(c);
          }
          if (!Forward(c->ufd, scratch.data(), n, &c->c2u, &c->c2u_off)) return UpstreamError(c);
        }
      } else if (n == 0) {
        // A reset that came while bytes waited unread reads as an end of stream: ask the socket.
        if (SocketError(c->cfd)) return Abandon(c, true);
        c->client_eof = true;
        MaybeShut(c);
      } else if (!Retryable(errno)) {
        return Abandon(c, true);
      }
    }
  } else if ((events & EPOLLHUP) && c->client_eof && !(c->client_shut || (events & EPOLLOUT))) {
    // Closed both ways by the peer while we still owe it bytes or a FIN: it is gone.
    return Abandon(c, true);
  }
  if (c->phase == kDone) return;
  if ((events & EPOLLOUT) && !FlushToClient(c)) return;
  if (c->phase == kDone) return;
  MaybeShut(c);
  Update(c);
}

void Worker::OnUpstream(Conn* c, uint32_t events) {
  if (c->phase == kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = SocketError(c->ufd);
    if (err || (events & (EPOLLERR | EPOLLHUP))) return Failed(c, true, false);
    return Connected(c);
  }
  if (events & EPOLLERR) return UpstreamError(c);
  if ((events & (EPOLLIN | EPOLLHUP)) && !c->up_eof) {
    ssize_t n = read(c->ufd, scratch.data(), kReadBytes);
    if (n > 0) {
      c->last_active_ms = engine->IdleNowMs();
      if (c->phase == kUnanswered) Commit(c);
      Bump(c->counters->bytes_out, n);
      if (!Forward(c->cfd, scratch.data(), n, &c->u2c, &c->u2c_off)) return Abandon(c, true);
    } else if (n == 0) {
      if (SocketError(c->ufd)) return UpstreamError(c);
      c->up_eof = true;
      if (c->phase == kUnanswered) return Failed(c, false, true);
      MaybeShut(c);
    } else if (!Retryable(errno)) {
      return UpstreamError(c);
    }
  } else if ((events & EPOLLHUP) && c->up_eof && !(c->up_shut || (events & EPOLLOUT))) {
    return UpstreamError(c);
  }
  if (c->phase == kDone) return;
  if ((events & EPOLLOUT) && !FlushToUpstream(c)) return;
  if (c->phase == kDone) return;
  MaybeShut(c);
  Update(c);
}

void Worker::UpstreamError(Conn* c) {
  if (c->phase == kConnecting) return Failed(c, true, false);
  if (c->phase == kUnanswered) return Failed(c, false, false);
  // Committed: the client must see the stream broke, not a clean end that looks complete.
  CloseUpstream(c, false);
  CloseClient(c, true);
  Finish(c);
}

// `b` comes counted in its active (by the Pick's caller, under the frontend lock);
// from here c->backend owns that count and CloseUpstream gives it back.
void Worker::Attempt(Conn* c, const std::shared_ptr<BackendState>& b) {
  c->phase = kConnecting;
  c->backend = b;
  c->tried.push_back(b->key);
  b->opened.fetch_add(1);
  c->c2u.clear();
  c->c2u_off = 0;
  c->up_eof = false;
  c->up_shut = false;
  c->ureg = false;
  c->umask = 0;
  c->connect_started_ns = MonotonicNs();
  c->connect_deadline_ms = NowMs() + engine->options().connect_timeout_ms;
  ConnectingAdd(c);
  if (b->addrlen == 0) return Failed(c, true, false);
  int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Failed(c, true, false);
  SetNoDelay(fd);
  c->ufd = fd;
  c->ufd_batch = batch;
  int r = connect(fd, reinterpret_cast<const sockaddr*>(&b->addr), b->addrlen);
  if (r == 0) return Connected(c);
  if (errno != EINPROGRESS) return Failed(c, true, false);
  // A local backend has often answered the handshake before connect(2)
  // returns: use it now rather than after another epoll round, so the
  // connection holds no pending slot and its socket is registered once.
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, 0) == 1) {
    if ((p.revents & (POLLERR | POLLHUP)) || SocketError(fd)) return Failed(c, true, false);
    if (p.revents & POLLOUT) return Connected(c);
  }
}

void Worker::Connected(Conn* c) {
  ConnectingRemove(c);
  double seconds = static_cast<double>(MonotonicNs() - c->connect_started_ns) / 1e9;
  {
    std::lock_guard<std::mutex> lock(lat_mu);
    latencies.push_back(static_cast<double>(c->fe->key));
    latencies.push_back(seconds);
  }
  c->phase = kUnanswered;
  Settle(c);
  c->c2u = c->proxy_header;
  c->c2u += c->replay;
  c->c2u_off = 0;
  if (!FlushToUpstream(c)) return;
  MaybeShut(c);
  Update(c);
}

void Worker::Failed(Conn* c, bool connect_stage, bool graceful) {
  std::shared_ptr<BackendState> failed = c->backend;
  CloseUpstream(c, false);
  if (connect_stage) {
    Bump(c->counters->connect_errors);
    if (failed) failed->connect_errors.fetch_add(1);
  }
  if (c->cfd < 0) return Finish(c);
  std::shared_ptr<BackendState> next;
  bool full = false;
  {
    Frontend& fe = *c->fe;
    std::lock_guard<std::mutex> lock(fe.mu);
    if (fe.config) {
      next = Pick(fe, *fe.config, c->client_text, c->tried, NowMs());
      if (!next) full = FullOnly(*fe.config, c->tried);
    }
    // Under the lock that saw the room, as in Admit; Attempt takes it over.
    if (next) next->active.fetch_add(1);
  }
  if (!next) {
    if (full) Bump(c->counters->limit_backend);
    // Every backend failed: close the client the way the last one closed on us.
    if (graceful) {
      shutdown(c->cfd, SHUT_WR);
      CloseClient(c, false);
    } else {
      CloseClient(c, true);
    }
    return Finish(c);
  }
  Bump(connect_stage ? c->counters->retries : c->counters->replays);
  Attempt(c, next);
  Update(c);
}

void Worker::Abandon(Conn* c, bool reset) {
  // A reset reaches the backend only once connected; a connect under way is just dropped.
  CloseUpstream(c, reset && c->phase != kConnecting);
  CloseClient(c, false);
  Finish(c);
}

void Worker::CloseUpstream(Conn* c, bool reset) {
  ConnectingRemove(c);
  if (c->ufd >= 0) {
    if (reset) CloseWithReset(c->ufd);
    else close(c->ufd);
    c->ufd = -1;
  }
  c->ureg = false;
  c->umask = 0;
  if (c->backend) {
    c->backend->active.fetch_sub(1);
    c->backend.reset();
  }
}

void Worker::CloseClient(Conn* c, bool reset) {
  if (c->cfd >= 0) {
    if (reset) CloseWithReset(c->cfd);
    else close(c->cfd);
    c->cfd = -1;
  }
  c->creg = false;
  c->cmask = 0;
}

void Worker::Settle(Conn* c) {
  if (!c->pending) return;
  c->pending = false;
  c->fe->pending.fetch_sub(1);
}

void Worker::Finish(Conn* c) {
  if (c->phase == kDone) return;
  CloseUpstream(c, false);
  CloseClient(c, false);
  Settle(c);
  c->phase = kDone;
  if (c->prev) c->prev->next = c->next;
  else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  c->fe->active.fetch_sub(1);
  dead.push_back(c);
}

void Worker::Commit(Conn* c) {
  c->phase = kCommitted;
  c->holding = false;
  std::string().swap(c->replay);
}

bool Worker::FlushToUpstream(Conn* c) {
  if (SendPending(c->ufd, &c->c2u, &c->c2u_off)) return true;
  UpstreamError(c);
  return false;
}

bool Worker::FlushToClient(Conn* c) {
  if (SendPending(c->cfd, &c->u2c, &c->u2c_off)) return true;
  Abandon(c, true);
  return false;
}

// Passes a FIN on once everything before it went through; ends the connection when both ways are done.
void Worker::MaybeShut(Conn* c) {
  if (c->phase != kUnanswered && c->phase != kCommitted) return;
  if (c->client_eof && !c->up_shut && c->ufd >= 0 && c->c2u_off >= c->c2u.size()) {
    shutdown(c->ufd, SHUT_WR);
    c->up_shut = true;
  }
  if (c->phase != kCommitted) return;
  if (c->up_eof && !c->client_shut && c->cfd >= 0 && c->u2c_off >= c->u2c.size()) {
    shutdown(c->cfd, SHUT_WR);
    c->client_shut = true;
  }
  bool client_done = c->client_eof && c->client_shut;
  bool up_done = c->up_eof && c->up_shut;
  if (client_done && up_done) return Finish(c);
  // A side done both ways only reports hang-ups from now on: close it early.
  if (client_done && c->cfd >= 0) CloseClient(c, false);
}

void Worker::SetMask(int fd, bool* registered, uint32_t* current, uint32_t want, Conn* c, uintptr_t tag) {
  if (fd < 0) return;
  if (*registered && *current == want) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = reinterpret_cast<uintptr_t>(c) | tag;
  epoll_ctl(epfd, *registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  *registered = true;
  *current = want;
}

void Worker::Update(Conn* c) {
  if (c->phase == kDone) return;
  size_t limit = engine->options().replay_bytes;
  bool c2u_waiting = c->c2u_off < c->c2u.size();
  bool u2c_waiting = c->u2c_off < c->u2c.size();
  uint32_t cwant = 0;
  if (!c->client_eof) {
    if (c->phase == kConnecting) {
      if (c->replay.size() < limit) cwant |= EPOLLIN;
    } else if (!c2u_waiting && c->ufd >= 0) {
      cwant |= EPOLLIN;
    }
  }
  if (u2c_waiting) cwant |= EPOLLOUT;
  SetMask(c->cfd, &c->creg, &c->cmask, cwant, c, kTagClient);
  uint32_t uwant = 0;
  if (c->phase == kConnecting || c2u_waiting) uwant |= EPOLLOUT;
  if (c->phase != kConnecting && !c->up_eof && !u2c_waiting && c->cfd >= 0) uwant |= EPOLLIN;
  SetMask(c->ufd, &c->ureg, &c->umask, uwant, c, kTagUpstream);
}

void Worker::ConnectingAdd(Conn* c) {
  if (c->in_connecting) return;
  c->in_connecting = true;
  c->cnext = nullptr;
  c->cprev = connecting_tail;
  if (connecting_tail) connecting_tail->cnext = c;
  else connecting_head = c;
  connecting_tail = c;
}

void Worker::ConnectingRemove(Conn* c) {
  if (!c->in_connecting) return;
  c->in_connecting = false;
  if (c->cprev) c->cprev->cnext = c->cnext;
  else connecting_head = c->cnext;
  if (c->cnext) c->cnext->cprev = c->cprev;
  else connecting_tail = c->cprev;
  c->cprev = c->cnext = nullptr;
}

void Worker::CheckTimers() {
  int64_t now = NowMs();
  // Deadlines only grow along the list (one timeout for all), so the expired ones are at its head.
  while (connecting_head && connecting_head->connect_deadline_ms <= now) {
    Conn* c = connecting_head;
    Failed(c, true, false);
  }
  if (now >= next_sweep_ms) {
    next_sweep_ms = now + engine->options().idle_sweep_ms;
    SweepIdle();
  }
}

void Worker::SweepIdle() {
  int64_t now = engine->IdleNowMs();
  for (Conn* c = conns; c;) {
    Conn* next = c->next;
    int64_t idle_ms = 0;
    {
      std::lock_guard<std::mutex> lock(c->fe->mu);
      if (c->fe->config) idle_ms = c->fe->config->idle_timeout_ms;
    }
    if (idle_ms > 0 && now - c->last_active_ms >= idle_ms) Abandon(c, false);
    c = next;
  }
}

void Worker::DestroyAll() {
  while (conns) Abandon(conns, false);
}

// ---- engine ------------------------------------------------------------------

Engine::Engine(const Options& options) : options_(options) {
  if (options_.threads < 1) options_.threads = 1;
}

Engine::~Engine() { Close(); }

bool Engine::Start() {
  for (int i = 0; i < options_.threads; i++) {
    auto w = std::make_unique<Worker>();
    w->engine = this;
    w->index = i;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->wakefd < 0) {
      int err = errno;
      if (w->epfd >= 0) close(w->epfd);
      if (w->wakefd >= 0) close(w->wakefd);
      Close();
      errno = err;
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagWake;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
    w->scratch.resize(kReadBytes);
    Worker* raw = w.get();
    workers_.push_back(std::move(w));
    // Workers take no signals: they stay with Node's main thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    raw->thread = std::thread([raw] { raw->Run(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  return true;
}

std::shared_ptr<Frontend> Engine::FrontendFor(uint32_t key, bool create) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = frontends_.find(key);
  if (it != frontends_.end()) return it->second;
  if (!create) return nullptr;
  auto fe = std::make_shared<Frontend>();
  fe->key = key;
  fe->counters.reset(new FrontendCounters[options_.threads]);
  frontends_[key] = fe;
  return fe;
}

void Engine::Configure(uint32_t key, std::shared_ptr<Config> config, std::vector<std::shared_ptr<BackendState>> fresh) {
  std::shared_ptr<Frontend> fe = FrontendFor(key, true);
  std::lock_guard<std::mutex> lock(fe->mu);
  for (size_t i = 0; i < config->backends.size(); i++) {
    std::shared_ptr<BackendState>& state = fresh[i];
    auto known = fe->known.find(state->key);
    if (known != fe->known.end()) state = known->second;
    else fe->known[state->key] = state;
    config->backends[i].state = state;
  }
  const Config* old = fe->config.get();
  if (old && (old->policy != config->policy || old->affinity_timeout_ms != config->affinity_timeout_ms)) {
    // A new policy starts afresh, as balancerFor does.
    fe->affinity.clear();
    for (auto& entry : fe->known) entry.second->rr_current = 0;
  }
  fe->config = std::move(config);
}

int Engine::Listen(uint32_t key, const sockaddr_storage& addr, socklen_t len, const char** syscall, int* port) {
  std::shared_ptr<Frontend> fe = FrontendFor(key, true);
  *syscall = "socket";
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // As Node does for '::': one socket for IPv6 and IPv4 clients.
  if (addr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  *syscall = "listen";
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    close(fd);
    return err;
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  *port = PortOf(bound);
  fe->listen_fd = fd;
  fe->listen_refs.store(static_cast<int>(workers_.size()));
  fe->listening.store(true);
  for (auto& w : workers_) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = reinterpret_cast<uintptr_t>(fe.get()) | kTagListener;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
  }
  return 0;
}

void Engine::Unlisten(uint32_t key) {
  std::shared_ptr<Frontend> fe = FrontendFor(key, false);
  if (!fe || !fe->listening.exchange(false)) return;
  for (auto& w : workers_) epoll_ctl(w->epfd, EPOLL_CTL_DEL, fe->listen_fd, nullptr);
  // Stops listening now (new clients are refused) while the descriptor stays valid
  // for a worker that still handles a wake-up of it; the last worker closes it.
  shutdown(fe->listen_fd, SHUT_RD);
  for (auto& w : workers_) w->Post(Command{kReleaseListener, fe});
}

int64_t Engine::Active(uint32_t key) {
  std::shared_ptr<Frontend> fe = FrontendFor(key, false);
  return fe ? fe->active.load() : 0;
}

void Engine::SweepIdle(int64_t idle_now_ms) {
  manual_idle_ms_.store(idle_now_ms);
  for (auto& w : workers_) w->Post(Command{kSweep, nullptr});
}

int64_t Engine::ClockMs() { return MonotonicNs() / 1000000; }

int64_t Engine::IdleNowMs() const {
  int64_t manual = manual_idle_ms_.load(std::memory_order_relaxed);
  return manual >= 0 ? manual : ClockMs();
}

void Engine::Close() {
  if (closed_) return;
  closed_ = true;
  for (auto& w : workers_) w->Post(Command{kStop, nullptr});
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
    close(w->epfd);
    close(w->wakefd);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& entry : frontends_) {
    Frontend& fe = *entry.second;
    fe.listening.store(false);
    if (fe.listen_fd >= 0) {
      close(fe.listen_fd);
      fe.listen_fd = -1;
    }
  }
  frontends_.clear();
  workers_.clear();
}

void Engine::Stats(std::vector<FrontendRow>* frontends, std::vector<BackendRow>* backends, std::vector<double>* latencies) {
  for (auto& w : workers_) {
    std::lock_guard<std::mutex> lock(w->lat_mu);
    latencies->insert(latencies->end(), w->latencies.begin(), w->latencies.end());
    w->latencies.clear();
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = frontends_.begin(); it != frontends_.end();) {
    Frontend& fe = *it->second;
    FrontendRow row{};
    row.key = fe.key;
    row.active = fe.active.load();
    for (int i = 0; i < options_.threads; i++) {
      const FrontendCounters& k = fe.counters[i];
      row.opened += k.opened.load(std::memory_order_relaxed);
      row.bytes_in += k.bytes_in.load(std::memory_order_relaxed);
      row.bytes_out += k.bytes_out.load(std::memory_order_relaxed);
      row.connect_errors += k.connect_errors.load(std::memory_order_relaxed);
      row.retries += k.retries.load(std::memory_order_relaxed);
      row.replays += k.replays.load(std::memory_order_relaxed);
      row.limit_frontend += k.limit_frontend.load(std::memory_order_relaxed);
      row.limit_backend += k.limit_backend.load(std::memory_order_relaxed);
      row.limit_pending += k.limit_pending.load(std::memory_order_relaxed);
    }
    frontends->push_back(row);
    {
      std::lock_guard<std::mutex> fe_lock(fe.mu);
      for (auto b = fe.known.begin(); b != fe.known.end();) {
        BackendState& s = *b->second;
        int64_t active = s.active.load();
        backends->push_back(BackendRow{fe.key, s.key, active, s.opened.load(), s.connect_errors.load()});
        bool listed = false;
        if (fe.config) {
          for (const ConfigBackend& cb : fe.config->backends) listed = listed || cb.state.get() == &s;
        }
        if (!listed && active == 0) b = fe.known.erase(b);
        else ++b;
      }
    }
    if (!fe.listening.load() && row.active == 0 && fe.pending.load() == 0) it = frontends_.erase(it);
    else ++it;
  }
}

}  // namespace relay
}  // namespace shoal
