// Processes: _exit, waitpid, waitidExited, kill, getpid, getppid, getrlimit, setrlimit, and memory
// shared with children (mmapShared). fork() lives in fork.cc.
//
// See: man 2 _exit, man 2 waitpid, man 2 kill, man 2 getpid, man 2 getrlimit.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>

#include "addon.h"

namespace forkserve {

// _exit(code): leaves at once, without atexit handlers or Node's platform shutdown. A forked child
// must leave this way: Node's normal exit joins platform threads that do not exist in the child.
static Napi::Value Exit(const Napi::CallbackInfo& info) {
  int32_t code = 0;
  if (info.Length() > 0 && info[0].IsNumber()) code = info[0].As<Napi::Number>().Int32Value();
  _exit(code & 0xff);
}

// waitpid(pid, options) -> { pid, exitCode, signal, stopped }. With WNOHANG and nothing to
// report, pid is 0. exitCode is null when the child was killed by a signal; signal is the signal
// number or null.
static Napi::Value Waitpid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t pid, options = 0;
  if (!ArgInt(info, 0, &pid)) return env.Undefined();
  if (info.Length() > 1 && !ArgInt(info, 1, &options)) return env.Undefined();
  int status = 0;
  pid_t r = waitpid(pid, &status, options);
  if (r < 0) return ThrowErrno(env, errno, "waitpid");
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, r));
  o.Set("status", Napi::Number::New(env, r == 0 ? 0 : status));
  Napi::Value exitCode = env.Null(), sig = env.Null();
  bool stopped = false;
  if (r > 0) {
    if (WIFEXITED(status)) exitCode = Napi::Number::New(env, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) sig = Napi::Number::New(env, WTERMSIG(status));
    else if (WIFSTOPPED(status)) {
      stopped = true;
      sig = Napi::Number::New(env, WSTOPSIG(status));
    }
  }
  o.Set("exitCode", exitCode);
  o.Set("signal", sig);
  o.Set("stopped", Napi::Boolean::New(env, stopped));
  return o;
}

// waitidExited() -> the pid of a child that has exited, left unreaped (waitid with WNOWAIT); 0 when
// none has, -1 when there are no children. Lets a server that shares the process with child_process
// reap only its own children: it looks before it takes. Linux only: macOS's waitid does not report
// si_pid reliably, so there it throws ENOSYS and callers ask for each of their pids instead.
static Napi::Value WaitidExited(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef __linux__
  siginfo_t si;
  memset(&si, 0, sizeof(si));
  int r;
  do r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == ECHILD) return Napi::Number::New(env, -1);
    return ThrowErrno(env, errno, "waitid");
  }
  return Napi::Number::New(env, si.si_pid);
#else
  return ThrowErrno(env, ENOSYS, "waitid");
#endif
}

static Napi::Value Kill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t pid, sig;
  if (!ArgInt(info, 0, &pid) || !ArgInt(info, 1, &sig)) return env.Undefined();
  if (kill(pid, sig) < 0) return ThrowErrno(env, errno, "kill");
  return env.Undefined();
}

static Napi::Value Getpid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), getpid()); }
static Napi::Value Getppid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), getppid()); }

static Napi::Value LimitToJs(Napi::Env env, rlim_t v) {
  if (v == RLIM_INFINITY) return Napi::Number::New(env, INFINITY);
  return Napi::Number::New(env, static_cast<double>(v));
}

static bool JsToLimit(Napi::Value v, rlim_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isinf(d) && d > 0) {
    *out = RLIM_INFINITY;
    return true;
  }
  if (!(d >= 0) || d != std::floor(d)) return false;
  *out = static_cast<rlim_t>(d);
  return true;
}

// getrlimit(resource) -> { soft, hard }; Infinity stands for RLIM_INFINITY.
static Napi::Value Getrlimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t resource;
  if (!ArgInt(info, 0, &resource)) return env.Undefined();
  struct rlimit rl;
  if (getrlimit(resource, &rl) < 0) return ThrowErrno(env, errno, "getrlimit");
  Napi::Object o = Napi::Object::New(env);
  o.Set("soft", LimitToJs(env, rl.rlim_cur));
  o.Set("hard", LimitToJs(env, rl.rlim_max));
  return o;
}

// setrlimit(resource, soft, hard)
static Napi::Value Setrlimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t resource;
  if (!ArgInt(info, 0, &resource)) return env.Undefined();
  struct rlimit rl;
  if (info.Length() < 3 || !JsToLimit(info[1], &rl.rlim_cur) || !JsToLimit(info[2], &rl.rlim_max))
    return ThrowType(env, "soft and hard must be non-negative integers or Infinity");
  if (setrlimit(resource, &rl) < 0) return ThrowErrno(env, errno, "setrlimit");
  return env.Undefined();
}

// mmapShared(length) -> an ArrayBuffer over mmap(MAP_SHARED | MAP_ANONYMOUS) memory, zero-filled.
// Made before fork(), it is the same memory in the parent and every child (a scoreboard): writes on
// one side are seen on the other. Unmapped when this process's ArrayBuffer is collected.
static Napi::Value MmapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t length;
  if (!ArgInt(info, 0, &length)) return env.Undefined();
  if (length <= 0) return ThrowErrno(env, EINVAL, "mmap");
  void* p = mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0);
  if (p == MAP_FAILED) return ThrowErrno(env, errno, "mmap");
  size_t size = static_cast<size_t>(length);
  return Napi::ArrayBuffer::New(env, p, size, [](Napi::Env, void* data, size_t* len) {
    munmap(data, *len);
    delete len;
  }, new size_t(size));
}

// setParentDeathSignal(signo): prctl(PR_SET_PDEATHSIG, signo), so this process gets signo when its
// parent dies (a pre-fork worker whose master is killed). Linux only: elsewhere ENOSYS, and callers
// watch getppid() instead.
static Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t signo;
  if (!ArgInt(info, 0, &signo)) return env.Undefined();
#ifdef __linux__
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(signo)) < 0) return ThrowErrno(env, errno, "prctl");
  return env.Undefined();
#else
  return ThrowErrno(env, ENOSYS, "prctl");
#endif
}

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("_exit", Napi::Function::New(env, Exit, "_exit"));
  exports.Set("waitpid", Napi::Function::New(env, Waitpid, "waitpid"));
  exports.Set("waitidExited", Napi::Function::New(env, WaitidExited, "waitidExited"));
  exports.Set("kill", Napi::Function::New(env, Kill, "kill"));
  exports.Set("getpid", Napi::Function::New(env, Getpid, "getpid"));
  exports.Set("getppid", Napi::Function::New(env, Getppid, "getppid"));
  exports.Set("getrlimit", Napi::Function::New(env, Getrlimit, "getrlimit"));
  exports.Set("setrlimit", Napi::Function::New(env, Setrlimit, "setrlimit"));
  exports.Set("mmapShared", Napi::Function::New(env, MmapShared, "mmapShared"));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));

  Napi::Object c = Napi::Object::New(env);
#define C(name) c.Set(#name, Napi::Number::New(env, name))
  C(WNOHANG); C(WUNTRACED); C(RLIMIT_NOFILE); C(RLIMIT_NPROC); C(RLIMIT_AS); C(RLIMIT_CORE);
#undef C
  exports.Set("processConstants", c);
}

}  // namespace forkserve
