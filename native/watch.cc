// Watching a descriptor from the event loop: a thin wrapper over uv_poll_t. The non-blocking
// listener of the event-loop server and the child's sockets use it; callback(status, events) runs on
// the loop with libuv's status (0 or a negative errno) and UV_READABLE/UV_WRITABLE bits.
//
// See: libuv docs "uv_poll_t — Poll handle".
#include "addon.h"

namespace forkserve {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {InstanceMethod("start", &FdWatcher::Start), InstanceMethod("stop", &FdWatcher::Stop),
                        InstanceMethod("close", &FdWatcher::Close), InstanceMethod("ref", &FdWatcher::Ref),
                        InstanceMethod("unref", &FdWatcher::Unref)});
  }

  // new FdWatcher(fd, callback)
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    int32_t fd;
    if (!ArgInt(info, 0, &fd)) return;
    if (info.Length() < 2 || !info[1].IsFunction()) {
      ThrowType(env, "callback must be a function");
      return;
    }
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    handle_ = new uv_poll_t();
    int r = uv_poll_init(GetData(env)->loop, handle_, fd);
    if (r != 0) {
      delete handle_;
      handle_ = nullptr;
      ThrowErrno(env, -r, "uv_poll_init");
      return;
    }
    handle_->data = this;
    Napi::ObjectWrap<FdWatcher>::Ref();  // the JS object lives while the handle is open, even if JS drops it
  }

 private:
  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<FdWatcher*>(h->data);
    CallFromLoop(self->Env(), self->callback_, {static_cast<double>(status), static_cast<double>(events)});
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int32_t events;
    if (!ArgInt(info, 0, &events)) return env.Undefined();
    if (handle_ == nullptr) return ThrowErrno(env, EBADF, "uv_poll_start");
    int r = uv_poll_start(handle_, events, OnPoll);
    if (r != 0) return ThrowErrno(env, -r, "uv_poll_start");
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_poll_stop(handle_);
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  // close(): stops watching and releases the handle. Does not close the fd (the caller owns it).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) {
      uv_poll_stop(handle_);
      uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) {
        auto* self = static_cast<FdWatcher*>(h->data);
        delete reinterpret_cast<uv_poll_t*>(h);
        self->Napi::ObjectWrap<FdWatcher>::Unref();
      });
      handle_ = nullptr;
      callback_.Reset();
    }
    return info.Env().Undefined();
  }

  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
};

// loopRequests(): the requests in flight on Node's loop (uv_loop_t.active_reqs): what Node lists
// (fs, DNS, writes ...) and what it does not: work on the threadpool (zlib, crypto, addons).
static Napi::Value LoopRequests(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), GetData(info.Env())->loop->active_reqs.count);
}

void InitWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
  exports.Set("loopRequests", Napi::Function::New(env, LoopRequests, "loopRequests"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("UV_READABLE", Napi::Number::New(env, UV_READABLE));
  c.Set("UV_WRITABLE", Napi::Number::New(env, UV_WRITABLE));
  c.Set("UV_DISCONNECT", Napi::Number::New(env, UV_DISCONNECT));
  exports.Set("watchConstants", c);
}

}  // namespace forkserve
