// Module entry: per-environment Instance, the shared receive arena, and the
// loop hooks that flush sends queued outside a receive callback.
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "shoal.h"

namespace shoal {
namespace {

// Bumped when the JS-facing interface changes; the loader refuses other values.
constexpr uint32_t kAbiVersion = 2;

void OnHandleClosed(uv_handle_t* handle) {
  Instance* inst = static_cast<Instance*>(handle->data);
  if (--inst->handles_open == 0) free(inst);
}

void OnIdle(uv_idle_t* handle) {
  FlushDirty(static_cast<Instance*>(handle->data));
}

void OnCheck(uv_check_t* handle) {
  FlushDirty(static_cast<Instance*>(handle->data));
}

// Environment teardown: close the sockets and our loop handles; the
// Instance is freed once libuv has let go of both handles.
void FinaliseInstance(napi_env env, void* data, void*) {
  Instance* inst = static_cast<Instance*>(data);
  inst->torn_down = true;
  CloseAllSockets(inst);
  napi_delete_reference(env, inst->arena_ref);
  napi_delete_reference(env, inst->meta_ref);
  napi_delete_reference(env, inst->ctor_ref);
  uv_close(reinterpret_cast<uv_handle_t*>(&inst->idle), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&inst->check), OnHandleClosed);
}

napi_value SetUint32(napi_env env, napi_value obj, const char* name, uint32_t value) {
  napi_value v;
  if (napi_create_uint32(env, value, &v) != napi_ok) return nullptr;
  if (napi_set_named_property(env, obj, name, v) != napi_ok) return nullptr;
  return v;
}

// A worker's teardown unloads its addons before its loop runs the last close
// callbacks, which point into this library: keep it mapped for the process.
void PinLibrary() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinLibrary), &info) && info.dli_fname) {
    dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

napi_value Init(napi_env env, napi_value exports) {
  PinLibrary();
  Instance* inst = static_cast<Instance*>(calloc(1, sizeof(Instance)));
  if (!inst) {
    napi_throw_error(env, "ENOMEM", "shoal addon: out of memory");
    return nullptr;
  }
  inst->env = env;
  if (napi_get_uv_event_loop(env, &inst->loop) != napi_ok) {
    free(inst);
    napi_throw_error(env, nullptr, "shoal addon: no libuv loop");
    return nullptr;
  }

  // The arena lives in a Node Buffer so JS reads datagrams without a copy;
  // the reference keeps it (and so the pointer) alive as long as the module.
  napi_value arena;
  void* arena_data = nullptr;
  napi_value meta_buffer;
  void* meta_data = nullptr;
  napi_value meta;
  if (napi_create_buffer(env, kSlotBytes * kMaxBatch, &arena_data, &arena) != napi_ok ||
      napi_create_reference(env, arena, 1, &inst->arena_ref) != napi_ok ||
      napi_create_arraybuffer(env, sizeof(uint32_t) * kMetaFields * kMaxBatch, &meta_data, &meta_buffer) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, kMetaFields * kMaxBatch, meta_buffer, 0, &meta) != napi_ok ||
      napi_create_reference(env, meta, 1, &inst->meta_ref) != napi_ok) {
    free(inst);
    napi_throw_error(env, "ENOMEM", "shoal addon: cannot allocate the receive arena");
    return nullptr;
  }
  inst->arena = static_cast<uint8_t*>(arena_data);
  inst->meta = static_cast<uint32_t*>(meta_data);
  for (int i = 0; i < kMaxBatch; i++) {
    inst->riov[i].iov_base = inst->arena + i * kSlotBytes;
    inst->riov[i].iov_len = kSlotBytes;
    memset(&inst->rmsgs[i], 0, sizeof(inst->rmsgs[i]));
    inst->rmsgs[i].msg_hdr.msg_iov = &inst->riov[i];
    inst->rmsgs[i].msg_hdr.msg_iovlen = 1;
    inst->rmsgs[i].msg_hdr.msg_name = &inst->raddr[i];
  }

  uv_idle_init(inst->loop, &inst->idle);
  uv_check_init(inst->loop, &inst->check);
  inst->idle.data = inst;
  inst->check.data = inst;
  inst->handles_open = 2;
  // Neither handle may keep the process alive: only sockets do.
  uv_unref(reinterpret_cast<uv_handle_t*>(&inst->idle));
  uv_unref(reinterpret_cast<uv_handle_t*>(&inst->check));
  uv_check_start(&inst->check, OnCheck);

  napi_set_named_property(env, exports, "arena", arena);
  napi_set_named_property(env, exports, "meta", meta);
  SetUint32(env, exports, "abiVersion", kAbiVersion);
  SetUint32(env, exports, "maxBatch", kMaxBatch);
  SetUint32(env, exports, "slotBytes", static_cast<uint32_t>(kSlotBytes));
  SetUint32(env, exports, "metaFields", kMetaFields);
  SetUint32(env, exports, "maxDatagram", static_cast<uint32_t>(kMaxDatagram));
  if (DefineUdpSocket(env, inst, exports) != napi_ok) return nullptr;
  if (DefineTcpRelay(env, exports) != napi_ok) return nullptr;
  napi_set_instance_data(env, inst, FinaliseInstance, nullptr);
  return exports;
}

}  // namespace

void ScheduleFlush(Instance* inst) {
  if (inst->idle_active || inst->torn_down) return;
  inst->idle_active = true;
  uv_idle_start(&inst->idle, OnIdle);
}

}  // namespace shoal

NAPI_MODULE(NODE_GYP_MODULE_NAME, shoal::Init)
