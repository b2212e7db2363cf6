// The JS face of the TcpRelay engine (tcp_relay.h): a class whose methods
// configure frontends and read counters. Every call is made on the JS
// thread; the engine's workers never call into JS.
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <string>

#include "shoal.h"
#include "tcp_relay.h"

namespace shoal {
namespace {

using relay::BackendState;
using relay::Config;
using relay::Engine;

// Numbers per row of stats(): see src/native/native.ts (NativeTcpRelayStats).
constexpr size_t kFrontendFields = 11;
constexpr size_t kBackendFields = 5;
// Longest address text accepted, with room for an IPv6 scope.
constexpr size_t kAddressBytes = 64;

bool GetNumber(napi_env env, napi_value obj, const char* name, double* out) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return false;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
  return napi_get_value_double(env, v, out) == napi_ok;
}

double NumberOr(napi_env env, napi_value obj, const char* name, double fallback) {
  double value;
  return GetNumber(env, obj, name, &value) ? value : fallback;
}

bool GetString(napi_env env, napi_value obj, const char* name, std::string* out) {
  napi_value v;
  char buffer[512];
  size_t len = 0;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
  if (napi_get_value_string_utf8(env, v, buffer, sizeof(buffer), &len) != napi_ok) return false;
  out->assign(buffer, len);
  return true;
}

// IPv4 or IPv6 text and a port into a socket address; false when the text is neither.
bool ParseSockaddr(const std::string& text, double port, sockaddr_storage* out, socklen_t* len) {
  memset(out, 0, sizeof(*out));
  if (port < 0 || port > 65535) return false;
  std::string host = text.substr(0, text.find('%'));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

Engine* Unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, argc, argv, &self, nullptr) != napi_ok) return nullptr;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_error(env, "ERR_INVALID_THIS", "not a TcpRelay");
    return nullptr;
  }
  return static_cast<Engine*>(data);
}

uint32_t KeyArg(napi_env env, napi_value v) {
  uint32_t key = 0;
  napi_get_value_uint32(env, v, &key);
  return key;
}

void Finalise(napi_env, void* data, void*) {
  delete static_cast<Engine*>(data);
}

// new TcpRelay({ threads, connectTimeoutMs, replayBufferBytes, maxPendingConnections, idleSweepIntervalMs })
napi_value New(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value self;
  napi_get_cb_info(env, info, &argc, argv, &self, nullptr);
  relay::Options options;
  if (argc >= 1) {
    options.threads = static_cast<int>(NumberOr(env, argv[0], "threads", 1));
    options.connect_timeout_ms = static_cast<int64_t>(NumberOr(env, argv[0], "connectTimeoutMs", 5000));
    options.replay_bytes = static_cast<size_t>(NumberOr(env, argv[0], "replayBufferBytes", 64 * 1024));
    options.max_pending = static_cast<int64_t>(NumberOr(env, argv[0], "maxPendingConnections", 1024));
    options.idle_sweep_ms = static_cast<int64_t>(NumberOr(env, argv[0], "idleSweepIntervalMs", 1000));
  }
  if (options.threads < 1 || options.threads > 64) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "threads must be 1 to 64");
    return nullptr;
  }
  Engine* engine = new Engine(options);
  if (!engine->Start()) {
    int err = errno;
    delete engine;
    napi_throw(env, MakeErrno(env, err, "epoll_create", nullptr));
    return nullptr;
  }
  if (napi_wrap(env, self, engine, Finalise, nullptr, nullptr) != napi_ok) {
    delete engine;
    return nullptr;
  }
  return self;
}

// configure(key, settings, backends: { key, id, address, port, weight }[])
napi_value Configure(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  Engine* engine = Unwrap(env, info, &argc, argv);
  if (!engine) return nullptr;
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "configure(key, settings, backends)");
    return nullptr;
  }
  auto config = std::make_shared<Config>();
  config->policy = static_cast<int>(NumberOr(env, argv[1], "policy", 0));
  config->affinity_timeout_ms = static_cast<int64_t>(NumberOr(env, argv[1], "affinityTimeoutMs", 0));
  config->max_connections = static_cast<int64_t>(NumberOr(env, argv[1], "maxConnections", 0));
  config->max_per_backend = static_cast<int64_t>(NumberOr(env, argv[1], "maxConnectionsPerBackend", 0));
  config->idle_timeout_ms = static_cast<int64_t>(NumberOr(env, argv[1], "idleTimeoutMs", 0));
  config->proxy_protocol = static_cast<int>(NumberOr(env, argv[1], "proxyProtocol", 0));
  uint32_t count = 0;
  napi_get_array_length(env, argv[2], &count);
  std::vector<std::shared_ptr<BackendState>> fresh;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    napi_get_element(env, argv[2], i, &item);
    auto state = std::make_shared<BackendState>();
    std::string address;
    double key = 0, port = 0, weight = 0;
    if (!GetNumber(env, item, "key", &key) || !GetString(env, item, "id", &state->id) ||
        !GetString(env, item, "address", &address) || !GetNumber(env, item, "port", &port) ||
        !GetNumber(env, item, "weight", &weight)) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "backend needs key, id, address, port, weight");
      return nullptr;
    }
    state->key = static_cast<uint32_t>(key);
    // A backend whose address cannot be used stays listed; its connects fail and move on.
    if (!ParseSockaddr(address, port, &state->addr, &state->addrlen) || port < 1) state->addrlen = 0;
    config->backends.push_back(relay::ConfigBackend{nullptr, static_cast<int64_t>(weight)});
    fresh.push_back(std::move(state));
  }
  engine->Configure(KeyArg(env, argv[0]), std::move(config), std::move(fresh));
  return nullptr;
}

// listen(key, address, port): the bound port; throws a Node-style error (EADDRINUSE...).
napi_value Listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  Engine* engine = Unwrap(env, info, &argc, argv);
  if (!engine) return nullptr;
  char address[kAddressBytes];
  size_t len = 0;
  double port = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[1], address, sizeof(address), &len) != napi_ok ||
      napi_get_value_double(env, argv[2], &port) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "listen(key, address, port)");
    return nullptr;
  }
  char detail[kAddressBytes + 16];
  snprintf(detail, sizeof(detail), "%s:%.0f", address, port);
  sockaddr_storage addr;
  socklen_t addrlen = 0;
  if (!ParseSockaddr(std::string(address, len), port, &addr, &addrlen)) {
    napi_throw(env, MakeErrno(env, EINVAL, "listen", detail));
    return nullptr;
  }
  const char* syscall = "listen";
  int bound = 0;
  int err = engine->Listen(KeyArg(env, argv[0]), addr, addrlen, &syscall, &bound);
  if (err) {
    napi_throw(env, MakeErrno(env, err, syscall, detail));
    return nullptr;
  }
  napi_value result;
  napi_create_uint32(env, static_cast<uint32_t>(bound), &result);
  return result;
}

napi_value Unlisten(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Engine* engine = Unwrap(env, info, &argc, argv);
  if (!engine || argc < 1) return nullptr;
  engine->Unlisten(KeyArg(env, argv[0]));
  return nullptr;
}

napi_value Active(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Engine* engine = Unwrap(env, info, &argc, argv);
  if (!engine || argc < 1) return nullptr;
  napi_value result;
  napi_create_double(env, static_cast<double>(engine->Active(KeyArg(env, argv[0]))), &result);
  return result;
}

napi_value SweepIdle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Engine* engine = Unwrap(env, info, &argc, argv);
  if (!engine) return nullptr;
  double idle_now = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &idle_now) != napi_ok || idle_now < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "sweepIdle(idleNowMs)");
    return nullptr;
  }
  engine->SweepIdle(static_cast<int64_t>(idle_now));
  return nullptr;
}

// clock(): the monotonic milliseconds the relay measures idleness on.
napi_value Clock(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  if (!Unwrap(env, info, &argc, nullptr)) return nullptr;
  napi_value result;
  napi_create_double(env, static_cast<double>(Engine::ClockMs()), &result);
  return result;
}

napi_value Float64Array(napi_env env, const std::vector<double>& values) {
  void* data = nullptr;
  napi_value buffer, array;
  napi_create_arraybuffer(env, values.size() * sizeof(double), &data, &buffer);
  if (!values.empty()) memcpy(data, values.data(), values.size() * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, values.size(), buffer, 0, &array);
  return array;
}

// stats(): { frontends, backends, latencies } as Float64Arrays of fixed-width rows.
napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Engine* engine = Unwrap(env, info, &argc, nullptr);
  if (!engine) return nullptr;
  std::vector<Engine::FrontendRow> frontends;
  std::vector<Engine::BackendRow> backends;
  std::vector<double> latencies;
  engine->Stats(&frontends, &backends, &latencies);
  std::vector<double> f;
  f.reserve(frontends.size() * kFrontendFields);
  for (const auto& r : frontends) {
    double row[kFrontendFields] = {
        static_cast<double>(r.key), static_cast<double>(r.active), static_cast<double>(r.opened),
        static_cast<double>(r.bytes_in), static_cast<double>(r.bytes_out), static_cast<double>(r.connect_errors),
        static_cast<double>(r.retries), static_cast<double>(r.replays), static_cast<double>(r.limit_frontend),
        static_cast<double>(r.limit_backend), static_cast<double>(r.limit_pending)};
    f.insert(f.end(), row, row + kFrontendFields);
  }
  std::vector<double> b;
  b.reserve(backends.size() * kBackendFields);
  for (const auto& r : backends) {
    double row[kBackendFields] = {static_cast<double>(r.frontend), static_cast<double>(r.key),
                                  static_cast<double>(r.active), static_cast<double>(r.opened),
                                  static_cast<double>(r.connect_errors)};
    b.insert(b.end(), row, row + kBackendFields);
  }
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "frontends", Float64Array(env, f));
  napi_set_named_property(env, result, "backends", Float64Array(env, b));
  napi_set_named_property(env, result, "latencies", Float64Array(env, latencies));
  return result;
}

napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Engine* engine = Unwrap(env, info, &argc, nullptr);
  if (engine) engine->Close();
  return nullptr;
}

}  // namespace

napi_status DefineTcpRelay(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"configure", nullptr, Configure, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"listen", nullptr, Listen, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unlisten", nullptr, Unlisten, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"active", nullptr, Active, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sweepIdle", nullptr, SweepIdle, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"clock", nullptr, Clock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value ctor;
  napi_status status = napi_define_class(env, "TcpRelay", NAPI_AUTO_LENGTH, New, nullptr,
                                         sizeof(methods) / sizeof(methods[0]), methods, &ctor);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, "TcpRelay", ctor);
}

}  // namespace shoal
