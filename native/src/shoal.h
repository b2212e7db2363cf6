// Shared state of the shoal addon: batched UDP I/O (recvmmsg/sendmmsg) on
// libuv's loop. One Instance per Node environment (main thread or worker);
// sockets hang off it.
#pragma once

#include <node_api.h>
#include <uv.h>

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

namespace shoal {

// Datagrams one recvmmsg or sendmmsg call moves at most.
constexpr int kMaxBatch = 64;
// Bytes one received datagram may take: the largest UDP payload fits.
constexpr size_t kSlotBytes = 65536;
// recvmmsg calls made per readiness event before other handles get a turn.
constexpr int kMaxBatchesPerWake = 8;
// Fields per datagram in the metadata array: length, IPv4 address, port.
constexpr int kMetaFields = 3;
// First size of a socket's send queue bytes; it doubles as needed.
constexpr size_t kInitialQueueBytes = 4096;
// Largest datagram send() accepts (IPv4: 65535 - 20 - 8).
constexpr size_t kMaxDatagram = 65507;

struct Socket;

// Per-environment state: the receive arena every socket reads into (JS sees
// it as one Buffer plus one Uint32Array), scratch message headers, and the
// flush points for sends queued outside a receive callback.
struct Instance {
  napi_env env;
  uv_loop_t* loop;
  napi_ref arena_ref;
  uint8_t* arena;
  napi_ref meta_ref;
  uint32_t* meta;
  napi_ref ctor_ref;

  struct mmsghdr rmsgs[kMaxBatch];
  struct iovec riov[kMaxBatch];
  struct sockaddr_in raddr[kMaxBatch];
  struct mmsghdr smsgs[kMaxBatch];
  struct iovec siov[kMaxBatch];

  // Sockets with queued datagrams or an error not yet reported to JS.
  Socket* dirty_head;
  // Every socket not closed yet, closed at environment teardown.
  Socket* open_head;
  // Depth of native-to-JS calls under way; sends made inside are flushed when it returns to 0.
  int dispatch_depth;

  // The idle handle keeps the loop from blocking in poll while sends wait;
  // idle (before poll) and check (after poll) both flush.
  uv_idle_t idle;
  uv_check_t check;
  bool idle_active;
  int handles_open;
  bool torn_down;
};

// Queued outgoing datagrams of one socket, copied so the caller's bytes can be reused at once.
struct SendQueue {
  int count;
  uint8_t* bytes;
  size_t used;
  size_t capacity;
  uint32_t length[kMaxBatch];
  struct sockaddr_in to[kMaxBatch];
  bool has_to[kMaxBatch];
};

struct Socket {
  Instance* inst;
  napi_ref self;
  napi_ref on_batch;
  napi_ref on_error;
  napi_async_context async_context;
  uv_poll_t poll;
  int fd;
  int poll_events;
  bool poll_initialised;
  bool closed;
  bool handle_closed;
  bool finalised;
  bool connected;
  bool dirty;
  Socket* dirty_prev;
  Socket* dirty_next;
  Socket* open_prev;
  Socket* open_next;
  // First send error of the last flush (a positive errno), reported at the next flush point.
  int pending_errno;
  const char* pending_syscall;
  SendQueue queue;
  // Counters for stats(): syscalls made and datagrams they moved, and datagrams dropped on send.
  double receive_calls;
  double received;
  double send_calls;
  double sent;
  double dropped;
};

// An Error shaped like Node's system errors: code, errno (negative), syscall, message.
napi_value MakeErrno(napi_env env, int err, const char* syscall, const char* detail);
// Called by the module init: defines the TcpRelay class on exports.
napi_status DefineTcpRelay(napi_env env, napi_value exports);
// Called by the module init: defines the UdpSocket class on exports.
napi_status DefineUdpSocket(napi_env env, Instance* inst, napi_value exports);
// Sends every queued datagram of every dirty socket and reports their send errors (may call JS).
void FlushDirty(Instance* inst);
// Makes sure queued sends go out in this loop iteration even when no receive callback runs.
void ScheduleFlush(Instance* inst);
// Closes every open socket; called at environment teardown.
void CloseAllSockets(Instance* inst);

}  // namespace shoal
