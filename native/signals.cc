// SIGCHLD delivery and the signal mask.
//
// The C handler only counts: it saves errno, bumps a lock-free counter, wakes the event loop with
// uv_async_send (documented async-signal-safe) and restores errno. It may run on any thread (about
// 1% of SIGCHLDs land on a non-main thread in a Node process). uv_async_send coalesces wake-ups, so
// JS is given the total number of kernel deliveries and compares it with what it has handled: the
// tutorial's lesson that signals coalesce needs the real count, not the number of wake-ups.
//
// Whether a blocking accept() sees EINTR is the caller's choice: SA_RESTART in `flags` or not.
//
// See: man 2 sigaction, man 7 signal (async-signal-safe functions), man 3 pthread_sigmask,
//      libuv src/unix/signal.c, gunicorn arbiter.py ("Signal handler - NO LOGGING, just queue").
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <atomic>

#include "addon.h"

namespace forkserve {

static std::atomic<uint32_t> g_deliveries{0};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the handler needs a lock-free counter");
static std::atomic<bool> g_asyncReady{false};
static uv_async_t* g_async = nullptr;

static void OnSigchld(int) {
  int saved = errno;
  g_deliveries.fetch_add(1, std::memory_order_relaxed);
  if (g_asyncReady.load(std::memory_order_acquire)) uv_async_send(g_async);
  errno = saved;
}

static void AsyncOnSignal(uv_async_t* handle) {
  if (!g_asyncReady.load(std::memory_order_acquire)) return;
  Napi::Env env(static_cast<napi_env>(handle->data));
  CallFromLoop(env, GetData(env)->onSignal, {static_cast<double>(g_deliveries.load(std::memory_order_relaxed))});
}

enum Disposition { kQuery = -1, kDefault = 0, kIgnore = 1, kHandler = 2 };

static const char* DescribeAction(const struct sigaction& sa) {
  if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL) return "default";
  if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN) return "ignore";
  if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == OnSigchld) return "handler";
  return "foreign";  // somebody else's handler, e.g. libuv's while a child_process child is alive
}

// sigaction(signo, disposition, flags) -> previous { disposition, flags }.
// disposition: -1 query only, 0 SIG_DFL, 1 SIG_IGN, 2 the counting handler (SIGCHLD only).
static Napi::Value Sigaction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t signo, disposition, flags = 0;
  if (!ArgInt(info, 0, &signo) || !ArgInt(info, 1, &disposition)) return env.Undefined();
  if (info.Length() > 2 && !ArgInt(info, 2, &flags)) return env.Undefined();
  if (disposition < kQuery || disposition > kHandler) return ThrowErrno(env, EINVAL, "sigaction");
  if (disposition == kHandler && signo != SIGCHLD) return ThrowErrno(env, EINVAL, "sigaction");
  struct sigaction old;
  memset(&old, 0, sizeof(old));
  int r;
  if (disposition == kQuery) {
    r = sigaction(signo, nullptr, &old);
  } else {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = flags;
    sa.sa_handler = disposition == kDefault ? SIG_DFL : disposition == kIgnore ? SIG_IGN : OnSigchld;
    r = sigaction(signo, &sa, &old);
  }
  if (r < 0) return ThrowErrno(env, errno, "sigaction");
  Napi::Object o = Napi::Object::New(env);
  o.Set("disposition", Napi::String::New(env, DescribeAction(old)));
  o.Set("flags", Napi::Number::New(env, old.sa_flags));
  return o;
}

// watchSignals(callback): callback(totalDeliveries) runs on the event
// loop after SIGCHLD deliveries. The wake-up handle is unref'd: it never keeps a process alive.
static Napi::Value WatchSignals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) return ThrowType(env, "callback must be a function");
  AddonData* data = GetData(env);
  data->onSignal = Napi::Persistent(info[0].As<Napi::Function>());
  if (g_async == nullptr) {
    g_async = new uv_async_t();
    int r = uv_async_init(data->loop, g_async, AsyncOnSignal);
    if (r != 0) {
      delete g_async;
      g_async = nullptr;
      return ThrowErrno(env, -r, "uv_async_init");
    }
    g_async->data = env;
    uv_unref(reinterpret_cast<uv_handle_t*>(g_async));
    g_asyncReady.store(true, std::memory_order_release);
  }
  return env.Undefined();
}

static void CloseAsync() {
  if (g_async == nullptr) return;
  g_asyncReady.store(false, std::memory_order_release);
  uv_close(reinterpret_cast<uv_handle_t*>(g_async),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  g_async = nullptr;
}

static Napi::Value UnwatchSignals(const Napi::CallbackInfo& info) {
  CloseAsync();
  GetData(info.Env())->onSignal.Reset();
  return info.Env().Undefined();
}

// sigchldDeliveries() -> total kernel deliveries of SIGCHLD to our handler so far.
static Napi::Value SigchldDeliveries(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), g_deliveries.load(std::memory_order_relaxed));
}

static void MaskToSet(Napi::Array arr, sigset_t* set) {
  sigemptyset(set);
  for (uint32_t i = 0; i < arr.Length(); i++) sigaddset(set, arr.Get(i).ToNumber().Int32Value());
}

// sigprocmask(how, signals) -> the previous mask as an array of signal numbers. Applies to the
// calling (main) thread, as pthread_sigmask does; Node's other threads keep their own masks.
static Napi::Value Sigprocmask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t how;
  if (!ArgInt(info, 0, &how)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) return ThrowType(env, "signals must be an array of numbers");
  sigset_t set, old;
  MaskToSet(info[1].As<Napi::Array>(), &set);
  int r = pthread_sigmask(how, &set, &old);
  if (r != 0) return ThrowErrno(env, r, "sigprocmask");
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int s = 1; s < 32; s++)
    if (sigismember(&old, s) == 1) out.Set(n++, Napi::Number::New(env, s));
  return out;
}

// In the child: our handler is reset to SIG_DFL, the count starts at 0 and the inherited wake-up
// handle is closed (after uv_loop_fork, so the parent's epoll set is untouched). Runs with all
// signals blocked.
void SignalsInChild() {
  struct sigaction cur;
  if (sigaction(SIGCHLD, nullptr, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == OnSigchld) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, nullptr);
  }
  g_deliveries.store(0);
  CloseAsync();
}


void InitSignals(Napi::Env env, Napi::Object exports) {
  // At environment teardown no JS may run: stop waking the loop for signals.
  napi_add_env_cleanup_hook(env, [](void*) { g_asyncReady.store(false, std::memory_order_release); }, nullptr);
  exports.Set("sigaction", Napi::Function::New(env, Sigaction, "sigaction"));
  exports.Set("watchSignals", Napi::Function::New(env, WatchSignals, "watchSignals"));
  exports.Set("unwatchSignals", Napi::Function::New(env, UnwatchSignals, "unwatchSignals"));
  exports.Set("sigchldDeliveries", Napi::Function::New(env, SigchldDeliveries, "sigchldDeliveries"));
  exports.Set("sigprocmask", Napi::Function::New(env, Sigprocmask, "sigprocmask"));

  Napi::Object c = Napi::Object::New(env);
#define C(name) c.Set(#name, Napi::Number::New(env, name))
  C(SIGCHLD); C(SIGTERM); C(SIGINT); C(SIGKILL); C(SIGHUP); C(SIGQUIT); C(SIGUSR1); C(SIGUSR2);
  C(SIGPIPE); C(SIGALRM); C(SIGSEGV); C(SIGABRT); C(SIGSTOP); C(SIGCONT);
  C(SA_RESTART); C(SA_NOCLDSTOP); C(SIG_BLOCK); C(SIG_UNBLOCK); C(SIG_SETMASK);
#undef C
  exports.Set("signalConstants", c);
}

}  // namespace forkserve
