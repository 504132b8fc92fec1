// Module entry: allocates the per-environment data and lets each source file add its functions.
#include "addon.h"

namespace forkserve {

AddonData* GetData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
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
  return exports;
}

}  // namespace forkserve

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return forkserve::Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitModule)
