// Error plumbing: errno is captured right after the failing call and handed, with the syscall name
// and strerror() text, to a JS factory that posix.ts injects once (better-sqlite3 does the same with
// its SqliteError). The TS side derives `code` from os.constants.errno, so ECHILD gets a name even
// though libuv has none for it.
#include <cstring>

#include "addon.h"

namespace forkserve {

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall) {
  AddonData* data = GetData(env);
  const char* text = strerror(err);
  if (data != nullptr && !data->makeError.IsEmpty()) {
    Napi::Value e = data->makeError.Call(
        {Napi::Number::New(env, err), Napi::String::New(env, syscall), Napi::String::New(env, text)});
    if (!env.IsExceptionPending()) Napi::Error(env, e).ThrowAsJavaScriptException();
  } else {
    Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + text);
    e.Set("errno", Napi::Number::New(env, -err));
    e.Set("syscall", Napi::String::New(env, syscall));
    e.ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, int32_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    std::string msg = "argument " + std::to_string(i) + " must be a number";
    Napi::TypeError::New(info.Env(), msg).ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::Number>().Int32Value();
  return true;
}

// (buffer, offset, length) triple with bounds checks; offset/length default to the whole buffer.
bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, size_t offIndex, size_t lenIndex,
               char** data, size_t* len) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsTypedArray()) {
    ThrowType(env, "buffer must be a Buffer or Uint8Array");
    return false;
  }
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  char* base = static_cast<char*>(ab.Data()) + ta.ByteOffset();
  size_t size = ta.ByteLength();
  int64_t off = 0;
  int64_t n = static_cast<int64_t>(size);
  if (info.Length() > offIndex && info[offIndex].IsNumber()) off = info[offIndex].As<Napi::Number>().Int64Value();
  if (info.Length() > lenIndex && info[lenIndex].IsNumber()) n = info[lenIndex].As<Napi::Number>().Int64Value();
  else n = static_cast<int64_t>(size) - off;
  if (off < 0 || n < 0 || off + n > static_cast<int64_t>(size)) {
    Napi::RangeError::New(env, "offset/length out of the buffer's bounds").ThrowAsJavaScriptException();
    return false;
  }
  *data = base + off;
  *len = static_cast<size_t>(n);
  return true;
}

void CallFromLoop(Napi::Env env, Napi::FunctionReference& fn, std::initializer_list<double> numbers) {
  if (fn.IsEmpty()) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value global, result;
  napi_value args[4];
  size_t argc = 0;
  for (double d : numbers)
    if (argc < 4 && napi_create_double(env, d, &args[argc]) == napi_ok) argc++;
  // Raw N-API here: while Node tears the environment down, JS can no longer run and the call
  // fails; that must be ignored, not turned into a fatal error.
  if (napi_get_global(env, &global) == napi_ok) {
    napi_status st = napi_make_callback(env, nullptr, global, fn.Value(), argc, args, &result);
    bool pending = false;
    if (st == napi_pending_exception || (napi_is_exception_pending(env, &pending) == napi_ok && pending)) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) return ThrowType(info.Env(), "factory must be a function");
  GetData(info.Env())->makeError = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

static Napi::Value Strerror(const Napi::CallbackInfo& info) {
  int32_t err;
  if (!ArgInt(info, 0, &err)) return info.Env().Undefined();
  return Napi::String::New(info.Env(), strerror(err));
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
  exports.Set("strerror", Napi::Function::New(env, Strerror, "strerror"));
}

}  // namespace forkserve
