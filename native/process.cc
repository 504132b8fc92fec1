// Processes: _exit, waitpid, waitidExited, kill, getpid, getppid, getrlimit, setrlimit, memory
// shared with children (mmapShared) and code moved onto huge pages (remapHuge). fork() lives in fork.cc.
//
// See: man 2 _exit, man 2 waitpid, man 2 kill, man 2 getpid, man 2 getrlimit, man 2 mremap.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

// remapHuge(address, length, prot): moves [address, address + length), 2 MiB-aligned and inside
// one private mapping that is readable and not writable, onto anonymous memory advised
// MADV_HUGEPAGE, with the same contents and the protection `prot`. The copy replaces the old pages
// in one mremap(MREMAP_FIXED), under the kernel's address-space lock: another thread reading or
// executing the range meanwhile sees the old pages or the new ones, never a hole, and both hold
// the same bytes. Throws EINVAL for a range it will not move (unaligned, not one read-only private
// mapping). Linux only (mremap, transparent huge pages): elsewhere ENOSYS.
#if defined(__linux__) && defined(MADV_HUGEPAGE)
// 0 when [addr, addr + len) lies inside one mapping that is private, readable and not writable.
static int CheckReadOnlyPrivate(uintptr_t addr, uintptr_t len) {
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == nullptr) return errno;
  char line[512];
  int err = EINVAL;
  while (fgets(line, sizeof(line), f)) {
    unsigned long s, e;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &s, &e, perms) != 3) continue;
    if (addr >= s && addr < e) {
      bool ok = addr + len <= e && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p';
      err = ok ? 0 : EINVAL;
      break;
    }
  }
  fclose(f);
  return err;
}

#endif

static Napi::Value RemapHuge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    return ThrowType(env, "address, length and prot must be numbers");
  double a = info[0].As<Napi::Number>().DoubleValue(), n = info[1].As<Napi::Number>().DoubleValue();
  int prot = info[2].As<Napi::Number>().Int32Value();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t kHuge = uintptr_t(2) << 20;
  const double kMax = 9007199254740992.0;  // 2^53: every address and length below is exact
  if (!(a >= 0 && a < kMax && n > 0 && n < kMax) || a != std::floor(a) || n != std::floor(n))
    return ThrowErrno(env, EINVAL, "mremap");
  uintptr_t addr = static_cast<uintptr_t>(a), len = static_cast<uintptr_t>(n);
  if (addr % kHuge != 0 || len % kHuge != 0) return ThrowErrno(env, EINVAL, "mremap");
  int bad = CheckReadOnlyPrivate(addr, len);
  if (bad != 0) return ThrowErrno(env, bad, "mremap");
  // A 2 MiB-aligned destination: map 2 MiB more than needed, give back the slack on both sides.
  char* raw = static_cast<char*>(mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (raw == MAP_FAILED) return ThrowErrno(env, errno, "mmap");
  char* dst = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~(kHuge - 1));
  if (dst > raw) munmap(raw, static_cast<size_t>(dst - raw));
  if (dst < raw + kHuge) munmap(dst + len, static_cast<size_t>(raw + kHuge - dst));
  const char* failed = nullptr;
  int err = 0;  // errno of the call that failed
  if (madvise(dst, len, MADV_HUGEPAGE) != 0) failed = "madvise", err = errno;
  if (failed == nullptr) {
    memcpy(dst, reinterpret_cast<const void*>(addr), len);
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
    madvise(dst, len, MADV_COLLAPSE);  // Linux 6.1+: huge pages now, where the copy got small ones
    if (mprotect(dst, len, prot) != 0) failed = "mprotect", err = errno;
  }
  if (failed == nullptr &&
      mremap(dst, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(addr)) == MAP_FAILED) {
    failed = "mremap";
    err = errno;
    // mremap(MREMAP_FIXED) unmaps the destination before it moves the source, and can still fail
    // after that (ENOMEM). Then the original range is a hole, which may hold the very code this
    // process runs: try once more, and if it is still a hole, stop here, before any of it runs.
    if (MappedBytesFrom(reinterpret_cast<void*>(addr), 1) == 0) {
      if (mremap(dst, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(addr)) != MAP_FAILED) return env.Undefined();
      char msg[160];
      int k = snprintf(msg, sizeof(msg), "forkserve: remapHuge: mremap failed (%s) after unmapping the range it was moving; aborting\n", strerror(err));
      if (k > 0) (void)!write(2, msg, static_cast<size_t>(k));
      abort();
    }
  }
  if (failed != nullptr) {
    munmap(dst, len);
    return ThrowErrno(env, err, failed);
  }
  return env.Undefined();
#else
  (void)a, (void)n, (void)prot;
  return ThrowErrno(env, ENOSYS, "mremap");
#endif
}

// nodeCodeAddress: the address of a function of Node's own (libuv's uv_loop_init), in the
// executable or, for a Node built as a shared library (libnode), in that library: where to look
// for Node's code in /proc/self/maps.
void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("remapHuge", Napi::Function::New(env, RemapHuge, "remapHuge"));
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
  C(PROT_READ); C(PROT_WRITE); C(PROT_EXEC);
#undef C
  c.Set("nodeCodeAddress", Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(&uv_loop_init))));
  exports.Set("processConstants", c);
}

}  // namespace forkserve
