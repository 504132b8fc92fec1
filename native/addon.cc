// Module entry: checks that the running Node is the one the addon was built for, allocates the
// per-environment data and lets each source file add its functions.
#include <node_version.h>

#include <string>

#include "addon.h"

namespace forkserve {

AddonData* GetData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// The addon is registered as a Node-API module, so Node loads it under any version, but fork.cc uses
// node.h internals (MultiIsolatePlatform, libuv's loop and threadpool) whose layout is fixed per ABI
// (NODE_MODULE_VERSION): built against another Node's headers it crashes later (seen: a
// NodePlatform::ForIsolate assertion on 24, a glibc abort on 22) or fails the fork self-check. Refuse
// here, before any of that is touched. Within one ABI the fork self-check guards the internals.
static bool CheckNodeVersion(Napi::Env env) {
  Napi::Value process = env.Global().Get("process");
  if (env.IsExceptionPending() || !process.IsObject()) return true;  // nothing to compare with
  Napi::Value versions = process.As<Napi::Object>().Get("versions");
  if (env.IsExceptionPending() || !versions.IsObject()) return true;
  std::string modules = versions.As<Napi::Object>().Get("modules").ToString().Utf8Value();
  std::string node = versions.As<Napi::Object>().Get("node").ToString().Utf8Value();
  if (env.IsExceptionPending() || modules == std::to_string(NODE_MODULE_VERSION)) return true;
  std::string message = "forkserve's native addon was built for Node " NODE_VERSION_STRING " (ABI " +
                        std::to_string(NODE_MODULE_VERSION) + "), running on Node " + node + " (ABI " + modules +
                        "): run npm rebuild";
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_FORKSERVE_NODE_MISMATCH"));
  e.ThrowAsJavaScriptException();
  return false;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (!CheckNodeVersion(env)) return exports;
  auto* data = new AddonData();
  if (napi_get_uv_event_loop(env, &data->loop) != napi_ok) {
    Napi::Error::New(env, "forkserve: napi_get_uv_event_loop failed").ThrowAsJavaScriptException();
    return exports;
  }
  env.SetInstanceData(data);
  InitErrors(env, exports);
  InitSockets(env, exports);
  InitProcess(env, exports);
  InitSignals(env, exports);
  InitFork(env, exports);
  InitWatch(env, exports);
  InitInherited(env, exports);
  return exports;
}

}  // namespace forkserve

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return forkserve::Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitModule)
