// fork() that is safe for JavaScript in the child, on stock Node (no command-line flags).
//
// Three things make a plain fork() of a Node process unusable (measured, ../shared/FORK-SAFETY.md):
//  1. Node (20 to 26 alike) marks the V8 heap MADV_DONTFORK, so the child has no heap and dies with SIGSEGV.
//     Before every fork we madvise(MADV_DOFORK) the whole user address space (Linux only; V8 marks
//     new pages as the heap grows, so once is not enough).
//  2. Only the forking thread exists in the child. V8's platform workers and libuv's threadpool
//     threads vanish, but the condition variables and mutexes they were using are copied with their
//     waiters/owners recorded, so the child deadlocks the first time it signals one. Before fork()
//     we park every one of those threads inside this file's own primitive (a quiescence barrier);
//     then no thread sits on a foreign condvar or holds a foreign lock at the fork instant. The
//     parent releases them after fork(); the child re-initialises our primitive.
//  3. Signal handlers must not run half-way through: all signals are blocked across fork() and the
//     child resets our SIGCHLD handler before unblocking.
// In the child, the event loop is re-initialised with uv_loop_fork() (otherwise the child would
// share and modify the parent's epoll set), pending async wake-ups are re-armed, and a guard handle
// notices when nothing but orphaned inherited requests keep the loop alive: Node would then wait
// forever in NodePlatform::DrainTasks for tasks no thread will ever run, so JS is told to _exit().
//
// See: man 2 fork, man 2 madvise, man 3 pthread_sigmask, libuv docs "uv_loop_fork",
//      v8-platform.h (Platform::NumberOfWorkerThreads, CallOnWorkerThread), node.h.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include <node.h>
#include <v8-platform.h>
#include <v8.h>

#include "addon.h"

namespace forkserve {

// ---------------------------------------------------------------------------------------------
// Quiescence barrier

struct Barrier {
  pthread_mutex_t mu;
  pthread_cond_t arrivedCv;  // a parked thread arrived (main thread waits)
  pthread_cond_t releaseCv;  // the main thread let go (parked threads wait)
  uint64_t generation = 0;
  bool holding = false;
  int arrived = 0;
  bool probeOpen = false;
  int probes = 0;
};
static Barrier g_barrier;

static void BarrierInit() {
  pthread_mutex_init(&g_barrier.mu, nullptr);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
#if defined(__linux__)
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
  pthread_cond_init(&g_barrier.arrivedCv, &attr);
  pthread_cond_init(&g_barrier.releaseCv, nullptr);
  pthread_condattr_destroy(&attr);
}

static struct timespec DeadlineAfter(int ms) {
  struct timespec ts;
#if defined(__linux__)
  clock_gettime(CLOCK_MONOTONIC, &ts);
#else
  clock_gettime(CLOCK_REALTIME, &ts);
#endif
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += static_cast<long>(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

// Runs on a V8 worker or a threadpool thread: check in, then wait for the release.
// A park item from an abandoned (timed-out) generation returns at once.
static void Park(uint64_t gen) {
  // These threads never need SIGCHLD; with it blocked here the kernel delivers it to the main thread
  // (where a blocking accept() sees EINTR) instead of, now and then, to a worker.
  static thread_local bool masked = false;
  if (!masked) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    masked = true;
  }
  pthread_mutex_lock(&g_barrier.mu);
  if (gen == g_barrier.generation && g_barrier.holding) {
    g_barrier.arrived++;
    pthread_cond_signal(&g_barrier.arrivedCv);
    while (gen == g_barrier.generation && g_barrier.holding) pthread_cond_wait(&g_barrier.releaseCv, &g_barrier.mu);
  }
  pthread_mutex_unlock(&g_barrier.mu);
}

// Self-check probe: counts only while the probe window of its generation is open.
static void Probe(uint64_t gen) {
  pthread_mutex_lock(&g_barrier.mu);
  if (gen == g_barrier.generation && g_barrier.probeOpen) {
    g_barrier.probes++;
    pthread_cond_signal(&g_barrier.arrivedCv);
  }
  pthread_mutex_unlock(&g_barrier.mu);
}

class ParkTask : public v8::Task {
 public:
  ParkTask(uint64_t gen, bool probe) : gen_(gen), probe_(probe) {}
  void Run() override { probe_ ? Probe(gen_) : Park(gen_); }

 private:
  uint64_t gen_;
  bool probe_;
};

struct ParkWork {
  uv_work_t req;
  uint64_t gen;
  bool probe;
};

static node::MultiIsolatePlatform* g_platform = nullptr;
static int g_v8Workers = 0;         // platform worker threads (NumberOfWorkerThreads() - 1)
static int g_platformThreads = 0;   // what NumberOfWorkerThreads() reports
static int g_threadpoolThreads = 4; // libuv's UV_THREADPOOL_SIZE, parsed as libuv does
static uv_loop_t* g_parkLoop = nullptr;  // private loop: park items never touch the main loop
static bool g_inChild = false;
static bool g_held = false;  // forkHold() parked the threads for a batch of forks
static int g_barrierTimeoutMs = 2000;
static uint32_t g_barrierTimeouts = 0;

static void PostItems(uint64_t gen, int v8n, int uvn, bool probe) {
  for (int i = 0; i < v8n; i++) g_platform->CallOnWorkerThread(std::make_unique<ParkTask>(gen, probe));
  for (int i = 0; i < uvn; i++) {
    auto* w = new ParkWork();
    w->gen = gen;
    w->probe = probe;
    w->req.data = w;
    int r = uv_queue_work(
        g_parkLoop, &w->req,
        [](uv_work_t* req) {
          auto* pw = static_cast<ParkWork*>(req->data);
          pw->probe ? Probe(pw->gen) : Park(pw->gen);
        },
        [](uv_work_t* req, int) { delete static_cast<ParkWork*>(req->data); });
    if (r != 0) delete w;
  }
}

// Parks v8n platform workers and uvn threadpool threads. Returns false (everyone released) if not
// all of them checked in within timeoutMs.
static bool Hold(int v8n, int uvn, int timeoutMs, uint64_t* genOut) {
  uv_run(g_parkLoop, UV_RUN_NOWAIT);  // free the park items of earlier forks
  pthread_mutex_lock(&g_barrier.mu);
  uint64_t gen = ++g_barrier.generation;
  g_barrier.holding = true;
  g_barrier.arrived = 0;
  pthread_mutex_unlock(&g_barrier.mu);
  if (g_platform == nullptr) v8n = 0;
  PostItems(gen, v8n, uvn, false);
  struct timespec deadline = DeadlineAfter(timeoutMs);
  pthread_mutex_lock(&g_barrier.mu);
  while (g_barrier.arrived < v8n + uvn) {
    if (pthread_cond_timedwait(&g_barrier.arrivedCv, &g_barrier.mu, &deadline) == ETIMEDOUT) break;
  }
  bool ok = g_barrier.arrived == v8n + uvn;
  if (!ok) {
    g_barrier.holding = false;
    pthread_cond_broadcast(&g_barrier.releaseCv);
  }
  pthread_mutex_unlock(&g_barrier.mu);
  if (genOut) *genOut = gen;
  return ok;
}

static void Release() {
  pthread_mutex_lock(&g_barrier.mu);
  g_barrier.holding = false;
  pthread_cond_broadcast(&g_barrier.releaseCv);
  pthread_mutex_unlock(&g_barrier.mu);
}

// libuv reads UV_THREADPOOL_SIZE once, when the threadpool starts: 0 means 1, capped at 1024.
static int ThreadpoolSize() {
  const char* val = getenv("UV_THREADPOOL_SIZE");
  if (val == nullptr) return 4;
  int n = atoi(val);
  if (n == 0) n = 1;
  if (n > 1024) n = 1024;
  return n;
}

// ---------------------------------------------------------------------------------------------
// MADV_DOFORK over the user address space (Linux)

#if defined(__linux__)
struct Range {
  uintptr_t start, end;
};
static std::vector<Range> g_doforkRanges;  // the address space minus [vvar], [vdso], [vsyscall]
static bool g_perMapping = false;          // fall back to one madvise per mapping
static uint32_t g_madviseErrors = 0;

static bool IsSpecial(const char* line) {
  return strstr(line, "[vvar") != nullptr || strstr(line, "[vdso]") != nullptr ||
         strstr(line, "[vsyscall]") != nullptr;
}

static void ComputeDoforkRanges() {
  std::vector<Range> special;
  uintptr_t top = uintptr_t(1) << 47;
  FILE* f = fopen("/proc/self/maps", "re");
  if (f != nullptr) {
    char line[512];
    while (fgets(line, sizeof(line), f)) {
      unsigned long s, e;
      if (sscanf(line, "%lx-%lx", &s, &e) != 2) continue;
      if (IsSpecial(line)) special.push_back({s, e});
      else top = std::max<uintptr_t>(top, e);
    }
    fclose(f);
  }
  std::sort(special.begin(), special.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
  uintptr_t cur = 0;
  for (const Range& r : special) {
    if (r.start >= top) break;
    if (r.start > cur) g_doforkRanges.push_back({cur, r.start});
    cur = std::max(cur, r.end);
  }
  if (cur < top) g_doforkRanges.push_back({cur, top});
}

static void DoforkPerMapping() {
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == nullptr) return;
  char line[512];
  while (fgets(line, sizeof(line), f)) {
    unsigned long s, e;
    if (sscanf(line, "%lx-%lx", &s, &e) != 2 || IsSpecial(line)) continue;
    if (madvise(reinterpret_cast<void*>(s), e - s, MADV_DOFORK) != 0 && errno != ENOMEM) g_madviseErrors++;
  }
  fclose(f);
}

// ENOMEM only says the range has holes; the advice is still applied to every mapping in it.
static void MadviseDofork() {
  if (!g_perMapping) {
    for (const Range& r : g_doforkRanges) {
      if (madvise(reinterpret_cast<void*>(r.start), r.end - r.start, MADV_DOFORK) != 0 && errno != ENOMEM) {
        g_perMapping = true;  // some mapping refused the advice and stopped the walk
        break;
      }
    }
  }
  if (g_perMapping) DoforkPerMapping();
}
#else
static void MadviseDofork() {}  // macOS has no MADV_DONTFORK: the heap is inherited as is
#endif

// ---------------------------------------------------------------------------------------------
// The child's event loop

static uv_prepare_t* g_guard = nullptr;
static unsigned int g_orphanReqs = 0;  // inherited requests that no thread will ever complete
static napi_env g_env = nullptr;

// uv_loop_fork() gives the child a fresh eventfd but keeps each async handle's `pending` flag: a
// wake-up sent in the parent just before fork() would make every later uv_async_send() in the child
// a no-op. Re-send those wake-ups on the child's own eventfd.
static void RearmAsync(uv_async_t* a) {
  if (a->pending != 0) {
    a->pending = 0;
    uv_async_send(a);
  }
}

static unsigned int QueueLength(void* head) {
  // struct uv__queue { next, prev }: walk `next` until back at the head.
  unsigned int n = 0;
  void* q = *static_cast<void**>(head);
  while (q != head && n < 1000000) {
    n++;
    q = *static_cast<void**>(q);
  }
  return n;
}

static void GuardOnPrepare(uv_prepare_t* h) {
  uv_loop_t* loop = h->loop;
  if (loop->active_handles > 1 || loop->active_reqs.count > g_orphanReqs) return;
  Napi::Env env(g_env);
  CallFromLoop(env, GetData(env)->onLoopDry, {});
}

static void ChildFatal(const char* what, int r) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf), "forkserve: %s failed in the forked child: %s\n", what, uv_strerror(r));
  if (n > 0) (void)!write(2, buf, static_cast<size_t>(n));
  _exit(70);
}

static void InitChild(Napi::Env env) {
  g_inChild = true;
  g_held = false;
  BarrierInit();  // the parent's parked threads are recorded as waiters in the copied condvars
  AddonData* data = GetData(env);
  int r = uv_loop_fork(data->loop);
  if (r != 0) ChildFatal("uv_loop_fork", r);
  r = uv_loop_fork(g_parkLoop);
  if (r != 0) ChildFatal("uv_loop_fork", r);
  uv_walk(
      data->loop,
      [](uv_handle_t* h, void*) {
        if (h->type == UV_ASYNC && !uv_is_closing(h)) RearmAsync(reinterpret_cast<uv_async_t*>(h));
      },
      nullptr);
  RearmAsync(&data->loop->wq_async);  // internal handle: uv_walk skips it
  RearmAsync(&g_parkLoop->wq_async);
  SignalsInChild();
  // Completed threadpool work waiting in the loop's queue will still be delivered; the rest of the
  // inherited requests were queued to threads that do not exist here.
  unsigned int done = QueueLength(&data->loop->wq);
  unsigned int reqs = data->loop->active_reqs.count;
  g_orphanReqs = reqs > done ? reqs - done : 0;
  if (!data->onLoopDry.IsEmpty()) {
    g_guard = new uv_prepare_t();
    uv_prepare_init(data->loop, g_guard);
    uv_prepare_start(g_guard, GuardOnPrepare);
  }
}

// ---------------------------------------------------------------------------------------------
// JS surface

static double g_lastBarrierUs = 0, g_lastMadviseUs = 0, g_lastForkUs = 0;

static double NowUs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// fork() -> pid in the parent, 0 in the child; throws { code: 'EAGAIN', syscall: 'fork' } when the
// kernel refuses or the barrier timed out (forkStats().barrierTimeouts tells which).
// Parks the threads fork() must quiesce (none of V8's in a child: they do not exist there);
// counts a timeout, which fork() reports as EAGAIN.
static bool HoldForFork() {
  if (Hold(g_inChild ? 0 : g_v8Workers, g_threadpoolThreads, g_barrierTimeoutMs, nullptr)) return true;
  g_barrierTimeouts++;
  return false;
}

static Napi::Value Fork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double t0 = NowUs();
  bool batch = g_held;
  if (!batch && !HoldForFork()) return ThrowErrno(env, EAGAIN, "fork");
  double t1 = NowUs();
  MadviseDofork();  // after the barrier: no worker can map a new heap page before fork()
  double t2 = NowUs();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);  // no handler may run between fork() and the child's reset
  pid_t pid = fork();
  if (pid == 0) {
    InitChild(env);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return Napi::Number::New(env, 0);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!batch) Release();
  double t3 = NowUs();
  g_lastBarrierUs = t1 - t0;
  g_lastMadviseUs = t2 - t1;
  g_lastForkUs = t3 - t2;
  if (pid < 0) return ThrowErrno(env, err, "fork");
  return Napi::Number::New(env, pid);
}

// forkSelfCheck(timeoutMs, probeMs) -> { v8Posted, v8Arrived, uvPosted, uvArrived, probesArrived }.
// Parks every thread we believe exists, then posts one more item to each pool: if a probe runs while
// everyone is parked, a thread escaped the count and children could hang.
static Napi::Value ForkSelfCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t timeoutMs = 2000, probeMs = 50;
  if (info.Length() > 0 && !ArgInt(info, 0, &timeoutMs)) return env.Undefined();
  if (info.Length() > 1 && !ArgInt(info, 1, &probeMs)) return env.Undefined();
  int v8n = (g_inChild || g_platform == nullptr) ? 0 : g_v8Workers;
  int uvn = g_threadpoolThreads;
  uint64_t gen;
  bool ok = Hold(v8n, uvn, timeoutMs, &gen);
  pthread_mutex_lock(&g_barrier.mu);
  int arrived = g_barrier.arrived;
  pthread_mutex_unlock(&g_barrier.mu);
  int probes = 0;
  if (ok) {
    pthread_mutex_lock(&g_barrier.mu);
    g_barrier.probeOpen = true;
    g_barrier.probes = 0;
    pthread_mutex_unlock(&g_barrier.mu);
    PostItems(gen, v8n > 0 ? 1 : 0, 1, true);
    struct timespec deadline = DeadlineAfter(probeMs);
    pthread_mutex_lock(&g_barrier.mu);
    while (g_barrier.probes == 0) {
      if (pthread_cond_timedwait(&g_barrier.arrivedCv, &g_barrier.mu, &deadline) == ETIMEDOUT) break;
    }
    probes = g_barrier.probes;
    g_barrier.probeOpen = false;
    pthread_mutex_unlock(&g_barrier.mu);
    Release();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, ok && probes == 0));
  o.Set("v8Posted", Napi::Number::New(env, v8n));
  o.Set("uvPosted", Napi::Number::New(env, uvn));
  o.Set("arrived", Napi::Number::New(env, arrived));
  o.Set("probesArrived", Napi::Number::New(env, probes));
  return o;
}

// forkHold(): parks the threads now and keeps them parked for every fork() until forkRelease(),
// so a burst of forks pays for one barrier (two context switches per thread) instead of one each.
static Napi::Value ForkHold(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_held) return env.Undefined();
  if (!HoldForFork()) return ThrowErrno(env, EAGAIN, "fork");
  g_held = true;
  return env.Undefined();
}

static Napi::Value ForkRelease(const Napi::CallbackInfo& info) {
  if (g_held) {
    g_held = false;
    Release();
  }
  return info.Env().Undefined();
}

static Napi::Value ForkInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("platformThreads", Napi::Number::New(env, g_platformThreads));
  o.Set("v8Workers", Napi::Number::New(env, g_v8Workers));
  o.Set("threadpoolThreads", Napi::Number::New(env, g_threadpoolThreads));
  o.Set("inChild", Napi::Boolean::New(env, g_inChild));
  o.Set("barrierTimeoutMs", Napi::Number::New(env, g_barrierTimeoutMs));
  o.Set("barrierTimeouts", Napi::Number::New(env, g_barrierTimeouts));
  o.Set("lastBarrierUs", Napi::Number::New(env, g_lastBarrierUs));
  o.Set("lastMadviseUs", Napi::Number::New(env, g_lastMadviseUs));
  o.Set("lastForkUs", Napi::Number::New(env, g_lastForkUs));
#if defined(__linux__)
  o.Set("madviseErrors", Napi::Number::New(env, g_madviseErrors));
  o.Set("madvisePerMapping", Napi::Boolean::New(env, g_perMapping));
#endif
  return o;
}

static Napi::Value SetBarrierTimeout(const Napi::CallbackInfo& info) {
  int32_t ms;
  if (!ArgInt(info, 0, &ms)) return info.Env().Undefined();
  g_barrierTimeoutMs = ms > 0 ? ms : 1;
  return info.Env().Undefined();
}

static Napi::Value SetLoopDryCallback(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) return ThrowType(info.Env(), "callback must be a function");
  GetData(info.Env())->onLoopDry = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

void InitFork(Napi::Env env, Napi::Object exports) {
  g_env = env;
  BarrierInit();
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) {
    node::Environment* nodeEnv = node::GetCurrentEnvironment(isolate->GetCurrentContext());
    if (nodeEnv != nullptr) g_platform = node::GetMultiIsolatePlatform(nodeEnv);
  }
  if (g_platform != nullptr) {
    // Node counts its delayed-task scheduler thread among the worker threads (5 for 4 workers).
    g_platformThreads = g_platform->NumberOfWorkerThreads();
    g_v8Workers = std::max(0, g_platformThreads - 1);
  }
  g_threadpoolThreads = ThreadpoolSize();
  g_parkLoop = new uv_loop_t();
  uv_loop_init(g_parkLoop);
#if defined(__linux__)
  ComputeDoforkRanges();
#endif
  exports.Set("fork", Napi::Function::New(env, Fork, "fork"));
  exports.Set("forkSelfCheck", Napi::Function::New(env, ForkSelfCheck, "forkSelfCheck"));
  exports.Set("forkInfo", Napi::Function::New(env, ForkInfo, "forkInfo"));
  exports.Set("forkHold", Napi::Function::New(env, ForkHold, "forkHold"));
  exports.Set("forkRelease", Napi::Function::New(env, ForkRelease, "forkRelease"));
  exports.Set("setBarrierTimeout", Napi::Function::New(env, SetBarrierTimeout, "setBarrierTimeout"));
  exports.Set("setLoopDryCallback", Napi::Function::New(env, SetLoopDryCallback, "setLoopDryCallback"));
}

}  // namespace forkserve
