// UdpSocket: an IPv4 datagram socket polled by libuv. Readable: drain with
// recvmmsg into the shared arena, one JS call per batch. send(): copy into a
// per-socket queue, flushed with sendmmsg after the current batch callback,
// at the loop's next idle/check point, when 64 are queued, or on flush().
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shoal.h"

namespace shoal {
namespace {

// ---- lists -----------------------------------------------------------------

void MarkDirty(Socket* s) {
  if (s->dirty) return;
  Instance* inst = s->inst;
  s->dirty = true;
  s->dirty_prev = nullptr;
  s->dirty_next = inst->dirty_head;
  if (inst->dirty_head) inst->dirty_head->dirty_prev = s;
  inst->dirty_head = s;
}

void UnmarkDirty(Socket* s) {
  if (!s->dirty) return;
  Instance* inst = s->inst;
  if (s->dirty_prev) s->dirty_prev->dirty_next = s->dirty_next;
  else inst->dirty_head = s->dirty_next;
  if (s->dirty_next) s->dirty_next->dirty_prev = s->dirty_prev;
  s->dirty = false;
  s->dirty_prev = s->dirty_next = nullptr;
}

void AddOpen(Socket* s) {
  Instance* inst = s->inst;
  s->open_prev = nullptr;
  s->open_next = inst->open_head;
  if (inst->open_head) inst->open_head->open_prev = s;
  inst->open_head = s;
}

void RemoveOpen(Socket* s) {
  Instance* inst = s->inst;
  if (s->open_prev) s->open_prev->open_next = s->open_next;
  else if (inst->open_head == s) inst->open_head = s->open_next;
  if (s->open_next) s->open_next->open_prev = s->open_prev;
  s->open_prev = s->open_next = nullptr;
}

// ---- errors ----------------------------------------------------------------

}  // namespace

// An Error shaped like Node's system errors: code, errno (negative), syscall, message.
napi_value MakeErrno(napi_env env, int err, const char* syscall, const char* detail) {
  const char* code = uv_err_name(-err);
  char message[256];
  if (detail) snprintf(message, sizeof(message), "%s %s %s", syscall, code, detail);
  else snprintf(message, sizeof(message), "%s %s", syscall, code);
  napi_value code_v, message_v, error, errno_v, syscall_v;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_v);
  napi_create_error(env, code_v, message_v, &error);
  napi_create_int32(env, -err, &errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  return error;
}

namespace {

void ThrowErrno(napi_env env, int err, const char* syscall, const char* detail) {
  napi_throw(env, MakeErrno(env, err, syscall, detail));
}

void ThrowNotRunning(napi_env env) {
  napi_throw_error(env, "ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running");
}

// ---- calling JS ------------------------------------------------------------

// Calls one of the socket's callbacks with `this` = the socket. Exceptions
// become uncaught exceptions, as a throw in an event handler would. Sends
// made inside are flushed when the outermost call returns.
void CallJs(Socket* s, napi_ref fn_ref, size_t argc, napi_value* argv) {
  Instance* inst = s->inst;
  napi_env env = inst->env;
  napi_value self, fn, result;
  if (napi_get_reference_value(env, s->self, &self) != napi_ok || self == nullptr) return;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == nullptr) return;
  inst->dispatch_depth++;
  napi_status status = napi_make_callback(env, s->async_context, self, fn, argc, argv, &result);
  inst->dispatch_depth--;
  if (status != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exception;
      napi_get_and_clear_last_exception(env, &exception);
      napi_fatal_exception(env, exception);
    }
  }
  if (inst->dispatch_depth == 0) FlushDirty(inst);
}

void ReportError(Socket* s, int err, const char* syscall) {
  if (s->closed) return;
  napi_value error = MakeErrno(s->inst->env, err, syscall, nullptr);
  CallJs(s, s->on_error, 1, &error);
}

// ---- sending ---------------------------------------------------------------

void UpdatePoll(Socket* s);

// Drops the first `sent` datagrams of the queue, keeping the rest in order.
void ConsumeQueue(SendQueue* q, int sent) {
  if (sent >= q->count) {
    q->count = 0;
    q->used = 0;
    return;
  }
  size_t offset = 0;
  for (int i = 0; i < sent; i++) offset += q->length[i];
  memmove(q->bytes, q->bytes + offset, q->used - offset);
  q->used -= offset;
  int rest = q->count - sent;
  memmove(q->length, q->length + sent, rest * sizeof(q->length[0]));
  memmove(q->to, q->to + sent, rest * sizeof(q->to[0]));
  memmove(q->has_to, q->has_to + sent, rest * sizeof(q->has_to[0]));
  q->count = rest;
}

// sendmmsg until the queue is empty or the kernel buffer is full (then wait
// for writable). A datagram the kernel refuses (ECONNREFUSED from an ICMP
// error, ENOBUFS, EMSGSIZE...) is dropped, as a lost datagram; the first such
// error is kept for the next report. Never calls JS.
void FlushSocket(Socket* s) {
  SendQueue* q = &s->queue;
  Instance* inst = s->inst;
  int sent = 0;
  bool blocked = false;
  while (sent < q->count) {
    size_t offset = 0;
    for (int i = 0; i < sent; i++) offset += q->length[i];
    int n = q->count - sent;
    for (int i = 0; i < n; i++) {
      int k = sent + i;
      inst->siov[i].iov_base = q->bytes + offset;
      inst->siov[i].iov_len = q->length[k];
      offset += q->length[k];
      struct msghdr* h = &inst->smsgs[i].msg_hdr;
      memset(h, 0, sizeof(*h));
      h->msg_iov = &inst->siov[i];
      h->msg_iovlen = 1;
      if (q->has_to[k]) {
        h->msg_name = &q->to[k];
        h->msg_namelen = sizeof(q->to[k]);
      }
    }
    int r = sendmmsg(s->fd, inst->smsgs, n, MSG_DONTWAIT);
    s->send_calls++;
    if (r > 0) {
      sent += r;
      s->sent += r;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      blocked = true;
      break;
    }
    if (s->pending_errno == 0) {
      s->pending_errno = errno;
      s->pending_syscall = "send";
    }
    s->dropped++;
    sent++;
  }
  ConsumeQueue(q, sent);
  bool want_writable = blocked && q->count > 0;
  if (want_writable != ((s->poll_events & UV_WRITABLE) != 0)) {
    s->poll_events = want_writable ? (UV_READABLE | UV_WRITABLE) : UV_READABLE;
    UpdatePoll(s);
  }
}

// ---- receiving -------------------------------------------------------------

void ReadBatches(Socket* s) {
  Instance* inst = s->inst;
  napi_env env = inst->env;
  for (int b = 0; b < kMaxBatchesPerWake && !s->closed; b++) {
    for (int i = 0; i < kMaxBatch; i++) {
      inst->rmsgs[i].msg_hdr.msg_namelen = sizeof(inst->raddr[i]);
      inst->rmsgs[i].msg_hdr.msg_flags = 0;
      inst->rmsgs[i].msg_len = 0;
    }
    int n = recvmmsg(s->fd, inst->rmsgs, kMaxBatch, MSG_DONTWAIT, nullptr);
    s->receive_calls++;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // On a connected socket an ICMP error from the peer (ECONNREFUSED:
      // port unreachable) surfaces here; it is consumed by this call.
      ReportError(s, errno, "recvmsg");
      return;
    }
    s->received += n;
    for (int i = 0; i < n; i++) {
      uint32_t* m = inst->meta + i * kMetaFields;
      m[0] = inst->rmsgs[i].msg_len;
      if (inst->rmsgs[i].msg_hdr.msg_namelen >= sizeof(struct sockaddr_in) && inst->raddr[i].sin_family == AF_INET) {
        m[1] = ntohl(inst->raddr[i].sin_addr.s_addr);
        m[2] = ntohs(inst->raddr[i].sin_port);
      } else {
        m[1] = 0;
        m[2] = 0;
      }
    }
    if (n > 0) {
      napi_value count;
      napi_create_uint32(env, static_cast<uint32_t>(n), &count);
      CallJs(s, s->on_batch, 1, &count);
    }
    if (n < kMaxBatch) return;
  }
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  Socket* s = static_cast<Socket*>(handle->data);
  if (s->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->inst->env, &scope) != napi_ok) return;
  if (status < 0) {
    // libuv turns EPOLLERR into UV_EBADF and stops the handle. On a UDP
    // socket that means a pending ICMP error (ECONNREFUSED on a connected
    // socket): read and clear it as recvmsg would, then poll again.
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (!s->closed) UpdatePoll(s);
    if (err != 0) ReportError(s, err, "recvmsg");
    else if (status != UV_EBADF) ReportError(s, -status, "poll");
    if (!s->closed) ReadBatches(s);
  } else {
    if ((events & UV_WRITABLE) && !s->closed) {
      FlushSocket(s);
      if (s->pending_errno && !s->dirty) MarkDirty(s);
      if (s->dirty) FlushDirty(s->inst);
    }
    if ((events & UV_READABLE) && !s->closed) ReadBatches(s);
  }
  napi_close_handle_scope(s->inst->env, scope);
}

void UpdatePoll(Socket* s) {
  if (!s->poll_initialised || s->closed) return;
  int r = uv_poll_start(&s->poll, s->poll_events, OnPoll);
  if (r < 0 && s->pending_errno == 0) {
    s->pending_errno = -r;
    s->pending_syscall = "poll";
    MarkDirty(s);
    ScheduleFlush(s->inst);
  }
}

// ---- lifetime --------------------------------------------------------------

void MaybeFree(Socket* s) {
  if (!s->handle_closed || !s->finalised) return;
  free(s->queue.bytes);
  free(s);
}

void OnPollClosed(uv_handle_t* handle) {
  Socket* s = static_cast<Socket*>(handle->data);
  s->handle_closed = true;
  MaybeFree(s);
}

// Releases the fd and the poll handle. Safe inside this socket's own
// callbacks: the struct is freed only after libuv's close callback, which
// runs in a later loop phase.
void CloseSocket(Socket* s, bool flush) {
  if (s->closed) return;
  if (flush && s->queue.count > 0) FlushSocket(s);
  s->closed = true;
  UnmarkDirty(s);
  RemoveOpen(s);
  s->queue.count = 0;
  s->queue.used = 0;
  if (s->poll_initialised) {
    // libuv: stop polling before the fd is closed.
    uv_poll_stop(&s->poll);
    close(s->fd);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), OnPollClosed);
  } else {
    close(s->fd);
    s->handle_closed = true;
  }
  s->fd = -1;
}

void ReleaseJsRefs(napi_env env, Socket* s) {
  if (s->on_batch) napi_delete_reference(env, s->on_batch);
  if (s->on_error) napi_delete_reference(env, s->on_error);
  s->on_batch = s->on_error = nullptr;
  // The object may now be collected; the finaliser frees the rest.
  if (s->self) {
    uint32_t count = 0;
    napi_reference_unref(env, s->self, &count);
  }
}

void Finalise(napi_env env, void* data, void*) {
  Socket* s = static_cast<Socket*>(data);
  if (!s->closed) {
    // Only at environment teardown: an open socket holds a strong reference to itself.
    CloseSocket(s, false);
    ReleaseJsRefs(env, s);
  }
  if (s->self) napi_delete_reference(env, s->self);
  s->self = nullptr;
  if (s->async_context) napi_async_destroy(env, s->async_context);
  s->async_context = nullptr;
  s->finalised = true;
  MaybeFree(s);
}

// ---- JS methods ------------------------------------------------------------

Socket* Unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, argc, argv, &self, &data) != napi_ok) return nullptr;
  Socket* s = nullptr;
  if (napi_unwrap(env, self, reinterpret_cast<void**>(&s)) != napi_ok || s == nullptr) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not a UdpSocket");
    return nullptr;
  }
  return s;
}

bool ParseAddress(napi_env env, napi_value value, napi_value port_value, struct sockaddr_in* out, char* text, size_t text_size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, text, text_size, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "address must be a string");
    return false;
  }
  int32_t port = -1;
  if (napi_get_value_int32(env, port_value, &port) != napi_ok || port < 0 || port > 65535) {
    napi_throw_range_error(env, "ERR_SOCKET_BAD_PORT", "port must be 0-65535");
    return false;
  }
  memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, text, &out->sin_addr) != 1) {
    ThrowErrno(env, EINVAL, "getaddrinfo", text);
    return false;
  }
  return true;
}

// new UdpSocket(onBatch(count), onError(err))
napi_value New(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value self;
  Instance* inst = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, &self, reinterpret_cast<void**>(&inst)) != napi_ok) return nullptr;
  napi_valuetype t0, t1;
  if (argc < 2 || napi_typeof(env, argv[0], &t0) != napi_ok || napi_typeof(env, argv[1], &t1) != napi_ok ||
      t0 != napi_function || t1 != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "UdpSocket(onBatch, onError) takes two functions");
    return nullptr;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket", nullptr);
    return nullptr;
  }
  Socket* s = static_cast<Socket*>(calloc(1, sizeof(Socket)));
  if (!s) {
    close(fd);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return nullptr;
  }
  s->inst = inst;
  s->fd = fd;
  s->poll_events = UV_READABLE;
  napi_value resource_name;
  napi_create_string_utf8(env, "shoal:UdpSocket", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_wrap(env, self, s, Finalise, nullptr, nullptr) != napi_ok) {
    close(fd);
    free(s);
    return nullptr;
  }
  // From here the finaliser owns s: failures below close it and return.
  napi_create_reference(env, self, 1, &s->self);
  napi_create_reference(env, argv[0], 1, &s->on_batch);
  napi_create_reference(env, argv[1], 1, &s->on_error);
  napi_async_init(env, self, resource_name, &s->async_context);
  AddOpen(s);
  int r = uv_poll_init(inst->loop, &s->poll, fd);
  if (r < 0) {
    CloseSocket(s, false);
    ReleaseJsRefs(env, s);
    ThrowErrno(env, -r, "uv_poll_init", nullptr);
    return nullptr;
  }
  s->poll.data = s;
  s->poll_initialised = true;
  r = uv_poll_start(&s->poll, s->poll_events, OnPoll);
  if (r < 0) {
    CloseSocket(s, false);
    ReleaseJsRefs(env, s);
    ThrowErrno(env, -r, "uv_poll_start", nullptr);
    return nullptr;
  }
  return self;
}

// bind(address, port) -> bound port
napi_value Bind(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (!s) return nullptr;
  if (s->closed) {
    ThrowNotRunning(env);
    return nullptr;
  }
  struct sockaddr_in addr;
  char text[64];
  if (argc < 2 || !ParseAddress(env, argv[0], argv[1], &addr, text, sizeof(text))) return nullptr;
  if (bind(s->fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    char detail[80];
    snprintf(detail, sizeof(detail), "%s:%u", text, ntohs(addr.sin_port));
    ThrowErrno(env, errno, "bind", detail);
    return nullptr;
  }
  struct sockaddr_in bound;
  socklen_t len = sizeof(bound);
  getsockname(s->fd, reinterpret_cast<struct sockaddr*>(&bound), &len);
  napi_value port;
  napi_create_uint32(env, ntohs(bound.sin_port), &port);
  return port;
}

// connect(address, port): datagrams go to and come only from that peer; its ICMP errors reach onError.
napi_value Connect(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (!s) return nullptr;
  if (s->closed) {
    ThrowNotRunning(env);
    return nullptr;
  }
  struct sockaddr_in addr;
  char text[64];
  if (argc < 2 || !ParseAddress(env, argv[0], argv[1], &addr, text, sizeof(text))) return nullptr;
  int r;
  do {
    r = connect(s->fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    char detail[80];
    snprintf(detail, sizeof(detail), "%s:%u", text, ntohs(addr.sin_port));
    ThrowErrno(env, errno, "connect", detail);
    return nullptr;
  }
  s->connected = true;
  return nullptr;
}

// send(bytes, offset, length, port, address): queue a copy; port 0 sends to
// the connected peer. Returns false when the queue is full and the kernel
// takes nothing (the datagram is dropped, as a full socket buffer would).
napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  Socket* s = Unwrap(env, info, &argc, argv);
  if (!s) return nullptr;
  if (s->closed) {
    ThrowNotRunning(env);
    return nullptr;
  }
  void* data = nullptr;
  size_t size = 0;
  bool is_typed = false;
  napi_is_typedarray(env, argv[0], &is_typed);
  if (argc < 5 || !is_typed) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send(bytes, offset, length, port, address)");
    return nullptr;
  }
  napi_typedarray_type type;
  size_t elements;
  napi_value ab;
  size_t byte_offset;
  napi_get_typedarray_info(env, argv[0], &type, &elements, &data, &ab, &byte_offset);
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "bytes must be a Buffer or Uint8Array");
    return nullptr;
  }
  size = elements;
  int64_t offset = -1, length = -1;
  int32_t port = -1;
  uint32_t address = 0;
  napi_get_value_int64(env, argv[1], &offset);
  napi_get_value_int64(env, argv[2], &length);
  napi_get_value_int32(env, argv[3], &port);
  napi_get_value_uint32(env, argv[4], &address);
  if (offset < 0 || length < 0 || static_cast<uint64_t>(offset + length) > size) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "offset and length must lie within the bytes");
    return nullptr;
  }
  if (static_cast<size_t>(length) > kMaxDatagram) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "datagram larger than 65507 bytes");
    return nullptr;
  }
  if (port < 0 || port > 65535 || (port == 0 && !s->connected)) {
    napi_throw_range_error(env, "ERR_SOCKET_BAD_PORT", "port must be 1-65535 on an unconnected socket");
    return nullptr;
  }
  SendQueue* q = &s->queue;
  if (q->count == kMaxBatch) {
    FlushSocket(s);
    if (s->pending_errno) {
      MarkDirty(s);
      ScheduleFlush(s->inst);
    }
    if (q->count == kMaxBatch) {
      s->dropped++;
      napi_value result;
      napi_get_boolean(env, false, &result);
      return result;
    }
  }
  size_t need = q->used + static_cast<size_t>(length);
  if (need > q->capacity) {
    size_t capacity = q->capacity ? q->capacity : kInitialQueueBytes;
    while (capacity < need) capacity *= 2;
    uint8_t* bytes = static_cast<uint8_t*>(realloc(q->bytes, capacity));
    if (!bytes) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return nullptr;
    }
    q->bytes = bytes;
    q->capacity = capacity;
  }
  memcpy(q->bytes + q->used, static_cast<uint8_t*>(data) + offset, static_cast<size_t>(length));
  q->used = need;
  int k = q->count++;
  q->length[k] = static_cast<uint32_t>(length);
  q->has_to[k] = port != 0;
  if (port != 0) {
    memset(&q->to[k], 0, sizeof(q->to[k]));
    q->to[k].sin_family = AF_INET;
    q->to[k].sin_port = htons(static_cast<uint16_t>(port));
    q->to[k].sin_addr.s_addr = htonl(address);
  }
  // A socket waiting for writable is flushed by its poll callback, not by the idle loop.
  if (!(s->poll_events & UV_WRITABLE)) {
    MarkDirty(s);
    if (s->inst->dispatch_depth == 0) ScheduleFlush(s->inst);
  }
  napi_value result;
  napi_get_boolean(env, true, &result);
  return result;
}

// flush(): send what is queued now; errors still arrive through onError.
napi_value Flush(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s || s->closed) return nullptr;
  FlushSocket(s);
  if (s->pending_errno) {
    MarkDirty(s);
    ScheduleFlush(s->inst);
  } else if (s->queue.count == 0) {
    UnmarkDirty(s);
  }
  return nullptr;
}

// close(): sends what is queued, then releases the socket. Safe twice and inside callbacks.
napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s || s->closed) return nullptr;
  CloseSocket(s, true);
  ReleaseJsRefs(env, s);
  return nullptr;
}

// localPort(): the bound port, 0 before bind or connect.
napi_value LocalPort(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s) return nullptr;
  uint32_t port = 0;
  if (!s->closed) {
    struct sockaddr_in bound;
    socklen_t len = sizeof(bound);
    if (getsockname(s->fd, reinterpret_cast<struct sockaddr*>(&bound), &len) == 0) port = ntohs(bound.sin_port);
  }
  napi_value v;
  napi_create_uint32(env, port, &v);
  return v;
}

// stats(): what the socket did so far, to see the batching at work.
napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Socket* s = Unwrap(env, info, &argc, nullptr);
  if (!s) return nullptr;
  napi_value obj, v;
  napi_create_object(env, &obj);
  const struct {
    const char* name;
    double value;
  } fields[] = {
      {"receiveCalls", s->receive_calls}, {"received", s->received}, {"sendCalls", s->send_calls},
      {"sent", s->sent},                  {"dropped", s->dropped},
  };
  for (const auto& f : fields) {
    napi_create_double(env, f.value, &v);
    napi_set_named_property(env, obj, f.name, v);
  }
  return obj;
}

}  // namespace

void FlushDirty(Instance* inst) {
  // Flush first, then report: a JS error handler may send or close sockets,
  // which changes the list, so restart from the head after each report.
  for (Socket* s = inst->dirty_head; s; s = s->dirty_next) {
    if (s->queue.count > 0 && !(s->poll_events & UV_WRITABLE)) FlushSocket(s);
  }
  for (;;) {
    Socket* s = inst->dirty_head;
    if (!s) break;
    int err = s->pending_errno;
    const char* syscall = s->pending_syscall;
    s->pending_errno = 0;
    UnmarkDirty(s);
    if (err != 0 && !s->closed && !inst->torn_down) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(inst->env, &scope) == napi_ok) {
        ReportError(s, err, syscall);
        napi_close_handle_scope(inst->env, scope);
      }
    }
  }
  if (inst->idle_active) {
    inst->idle_active = false;
    uv_idle_stop(&inst->idle);
  }
}

void CloseAllSockets(Instance* inst) {
  while (inst->open_head) CloseSocket(inst->open_head, false);
}

napi_status DefineUdpSocket(napi_env env, Instance* inst, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"bind", nullptr, Bind, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"connect", nullptr, Connect, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"send", nullptr, Send, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"flush", nullptr, Flush, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"localPort", nullptr, LocalPort, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value ctor;
  napi_status status = napi_define_class(env, "UdpSocket", NAPI_AUTO_LENGTH, New, inst,
                                         sizeof(methods) / sizeof(methods[0]), methods, &ctor);
  if (status != napi_ok) return status;
  status = napi_create_reference(env, ctor, 1, &inst->ctor_ref);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, "UdpSocket", ctor);
}

}  // namespace shoal
