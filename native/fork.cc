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
//  4. A child that lives needs V8's background work done: V8 keeps posting compile jobs, GC sweeping
//     and array-buffer freeing to platform workers that do not exist in the child (a long-lived
//     child spun at 100% CPU, never optimized hot code). The child routes those posts to threads of
//     its own (below: "The child's own V8 platform worker threads").
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
#include <atomic>
#include <deque>
#include <map>
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
  int arrivedUv = 0;  // of `arrived`: threadpool threads (the rest are V8's)
  bool probeOpen = false;
  int probes = 0;
};
static Barrier g_barrier;

// The clock of this file's timed waits: CLOCK_MONOTONIC where a condition variable can be told to
// use it (Linux), else the realtime clock that pthread_cond_timedwait uses by default (macOS).
static void CondClockNow(struct timespec* ts) {
#if defined(__linux__)
  clock_gettime(CLOCK_MONOTONIC, ts);
#else
  clock_gettime(CLOCK_REALTIME, ts);
#endif
}

static void InitTimedCond(pthread_cond_t* cv) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
#if defined(__linux__)
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
  pthread_cond_init(cv, &attr);
  pthread_condattr_destroy(&attr);
}

static void BarrierInit() {
  pthread_mutex_init(&g_barrier.mu, nullptr);
  InitTimedCond(&g_barrier.arrivedCv);
  pthread_cond_init(&g_barrier.releaseCv, nullptr);
}

static struct timespec DeadlineAfter(int ms) {
  struct timespec ts;
  CondClockNow(&ts);
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
static void Park(uint64_t gen, bool threadpool) {
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
  NoteParkedThread();  // the thread census (inherited.cc) knows it from now on
  pthread_mutex_lock(&g_barrier.mu);
  if (gen == g_barrier.generation && g_barrier.holding) {
    g_barrier.arrived++;
    if (threadpool) g_barrier.arrivedUv++;
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
  void Run() override { probe_ ? Probe(gen_) : Park(gen_, false); }

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
// The last barrier that timed out: how many of each kind were posted and how many parked.
static int g_busyV8Posted = 0, g_busyV8Parked = 0, g_busyUvPosted = 0, g_busyUvParked = 0;

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
          pw->probe ? Probe(pw->gen) : Park(pw->gen, true);
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
  g_barrier.arrivedUv = 0;
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
    g_busyV8Posted = v8n;
    g_busyUvPosted = uvn;
    g_busyUvParked = g_barrier.arrivedUv;
    g_busyV8Parked = g_barrier.arrived - g_barrier.arrivedUv;
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
// The child's own V8 platform worker threads
//
// Node's platform workers do not exist in a child, but V8 keeps posting background work to them
// (CallOnWorkerThread, PostJob, CallDelayedOnWorkerThread): concurrent TurboFan/Maglev/Sparkplug
// compile jobs, cppgc's concurrent sweeper, the unmapper, array-buffer sweeping, concurrent marking.
// Posted to NodePlatform's queue, those tasks wait forever: hot functions never get optimized, and
// V8 code that polls a job instead of joining it never finishes — cppgc's incremental sweeping task
// re-posts itself with no delay while its concurrent sweeping job is "active", so after any major
// GC an idle child spins at 100% CPU (measured, Node 20-26). V8 posts all of this through virtual
// methods of v8::Platform on the one platform object; in the child we give that object a private
// copy of its vtable in which the worker-thread methods hand tasks to a small pool of threads this
// file owns (started lazily, created in the child, at most as many as the parent's V8 workers;
// FORKSERVE_CHILD_WORKERS=N, read by posix.ts, changes that; 0 brings back the loss of that work,
// spin included: for measuring it only).
// Slot numbers come from the v8-platform.h the addon is compiled against, which is the running
// Node's (addon.cc refuses another ABI); the copy is made once, in the parent, and a child only
// swaps the object's vtable pointer. The start-up self-check proves, for this Node, that a job posted
// through Node's own job implementation reaches the replaced slots (ProbeWorkerRouting).
// Flags were measured as the alternative and rejected: set in the child at run time, V8 caches
// most of them (cppgc reads --single-threaded-gc once per heap) or aborts (--single-threaded-gc
// and --no-parallel-marking on Node 20), and the command line would make the parent single-threaded too.
// What the parent posted before the barrier is done by the time its workers park (the park tasks
// queue behind it). Only work posted while they park, and delayed worker tasks waiting in Node's
// delayed-task scheduler thread at the fork instant, stays in Node's queue, unrun in the child
// (V8 posts few delayed worker tasks: none were seen in 30 s of a serving child).

// Whole pages from `addr` (rounded down) that are mapped, up to `want` bytes: msync() fails with
// ENOMEM on an unmapped page (POSIX; Linux and macOS).
size_t MappedBytesFrom(const void* addr, size_t want) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  uintptr_t p = a & ~(page - 1);
  while (p < a + want && msync(reinterpret_cast<void*>(p), page, MS_ASYNC) == 0) p += page;
  return p > a ? std::min<size_t>(want, p - a) : 0;
}

namespace {

struct ChildPool {
  pthread_mutex_t mu;
  pthread_cond_t cv;  // timed waits on CondClockNow's clock
  std::deque<std::unique_ptr<v8::Task>> ready;
  std::multimap<double, std::unique_ptr<v8::Task>> delayed;  // due (monotonic seconds) -> task
  int threads = 0;  // started in this process
  int idle = 0;
  int maxThreads = 0;
  bool frozen = false;  // the fork barrier counts threads: start none meanwhile
  uint64_t posted = 0, ran = 0;
  uint32_t startFailures = 0;  // pthread_create() refused
};
ChildPool g_pool;
bool g_poolActive = false;  // the platform's worker methods lead here (child only)
int g_childWorkers = -1;    // most threads a child starts: the parent's V8 workers, or setChildWorkers()

double MonoSeconds() {  // the clock of g_pool.cv's timed waits
  struct timespec ts;
  CondClockNow(&ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void PoolInitSync() {
  pthread_mutex_init(&g_pool.mu, nullptr);
  InitTimedCond(&g_pool.cv);
}

void* PoolMain(void*) {
  pthread_mutex_lock(&g_pool.mu);
  for (;;) {
    double now = MonoSeconds();
    while (!g_pool.delayed.empty() && g_pool.delayed.begin()->first <= now) {
      g_pool.ready.push_back(std::move(g_pool.delayed.begin()->second));
      g_pool.delayed.erase(g_pool.delayed.begin());
    }
    if (!g_pool.ready.empty()) {
      std::unique_ptr<v8::Task> task = std::move(g_pool.ready.front());
      g_pool.ready.pop_front();
      pthread_mutex_unlock(&g_pool.mu);
      task->Run();
      task.reset();
      pthread_mutex_lock(&g_pool.mu);
      g_pool.ran++;
      continue;
    }
    g_pool.idle++;
    if (g_pool.delayed.empty()) {
      pthread_cond_wait(&g_pool.cv, &g_pool.mu);
    } else {
      double due = g_pool.delayed.begin()->first;
      struct timespec ts;
      ts.tv_sec = static_cast<time_t>(due);
      ts.tv_nsec = static_cast<long>((due - static_cast<double>(ts.tv_sec)) * 1e9);
      pthread_cond_timedwait(&g_pool.cv, &g_pool.mu, &ts);
    }
    g_pool.idle--;
  }
  return nullptr;
}

// Called with g_pool.mu held: starts a thread when more tasks are ready than threads wait for them
// (an idle thread already signalled still counts as idle until it wakes), or when delayed tasks have
// no thread to time them.
void PoolMaybeStartThread() {
  if (g_pool.frozen || g_pool.threads >= g_pool.maxThreads) return;
  bool needed = static_cast<int>(g_pool.ready.size()) > g_pool.idle || (g_pool.threads == 0 && !g_pool.delayed.empty());
  if (!needed) return;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 4 << 20);  // Node's platform workers use 4 MiB too
  // Asynchronous signals stay with the main thread; a fault raised on this thread must still be one.
  sigset_t blocked, old;
  sigfillset(&blocked);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) sigdelset(&blocked, sig);
  pthread_sigmask(SIG_BLOCK, &blocked, &old);
  pthread_t t;
  if (pthread_create(&t, &attr, PoolMain, nullptr) == 0) g_pool.threads++;
  else g_pool.startFailures++;  // RLIMIT_NPROC, pids.max: the work waits for a thread that exists
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
}

// The self-check's routing probe runs on the main thread of the parent, with the child's vtable in
// place for a moment. Other threads (a worker_threads Worker, say) may post through the platform
// meanwhile: their tasks must reach Node's real methods, not be counted and dropped.
std::atomic<bool> g_probing{false};
pthread_t g_probeThread;
int g_routeProbe = 0;  // posts that reached the hooks from the probing thread

bool ProbingHere() { return g_probing.load(std::memory_order_acquire) && pthread_equal(pthread_self(), g_probeThread); }

void PoolPost(std::unique_ptr<v8::Task> task, double delaySeconds) {
  pthread_mutex_lock(&g_pool.mu);
  g_pool.posted++;
  if (delaySeconds > 0) {
    g_pool.delayed.emplace(MonoSeconds() + delaySeconds, std::move(task));
  } else {
    g_pool.ready.push_back(std::move(task));
  }
  PoolMaybeStartThread();
  pthread_cond_signal(&g_pool.cv);
  pthread_mutex_unlock(&g_pool.mu);
}

// Node's own implementations of the replaced slots (read from the real vtable), for posts that must
// not go to the pool: the parent's other threads during the probe.
void* g_realFns[4];

// The replacements, with the ABI of the virtual methods they stand in for (`this` first; a
// std::unique_ptr argument is passed by address and destroyed by the caller, as for any function).
// I is the slot's index in PlatformSlots. In a child every post goes to the pool; in the parent the
// probing thread's are counted and dropped (no-op tasks), anyone else's go to Node.
template <int I>
void HookPost(v8::Platform* p, std::unique_ptr<v8::Task> task) {
  if (ProbingHere()) return void(g_routeProbe++);
  if (g_poolActive) return PoolPost(std::move(task), 0);
  reinterpret_cast<void (*)(v8::Platform*, std::unique_ptr<v8::Task>)>(g_realFns[I])(p, std::move(task));
}
template <int I>
void HookPostDelayed(v8::Platform* p, std::unique_ptr<v8::Task> task, double delay) {
  if (ProbingHere()) return void(g_routeProbe++);
  if (g_poolActive) return PoolPost(std::move(task), delay);
  reinterpret_cast<void (*)(v8::Platform*, std::unique_ptr<v8::Task>, double)>(g_realFns[I])(p, std::move(task), delay);
}
template <int I>
void HookPostImpl(v8::Platform* p, v8::TaskPriority priority, std::unique_ptr<v8::Task> task, const void* location) {
  if (ProbingHere()) return void(g_routeProbe++);
  if (g_poolActive) return PoolPost(std::move(task), 0);
  reinterpret_cast<void (*)(v8::Platform*, v8::TaskPriority, std::unique_ptr<v8::Task>, const void*)>(g_realFns[I])(
      p, priority, std::move(task), location);
}
template <int I>
void HookPostDelayedImpl(v8::Platform* p, v8::TaskPriority priority, std::unique_ptr<v8::Task> task, double delay,
                         const void* location) {
  if (ProbingHere()) return void(g_routeProbe++);
  if (g_poolActive) return PoolPost(std::move(task), delay);
  reinterpret_cast<void (*)(v8::Platform*, v8::TaskPriority, std::unique_ptr<v8::Task>, double, const void*)>(
      g_realFns[I])(p, priority, std::move(task), delay, location);
}

// Vtable slot of a virtual member function, from its pointer-to-member (Itanium C++ ABI; the ARM
// variant keeps the "virtual" bit in the adjustment instead).
template <typename M>
long VirtualSlot(M m) {
  struct Rep {
    uintptr_t ptr;
    ptrdiff_t adj;
  } r;
  static_assert(sizeof(M) == sizeof(Rep), "unexpected member-function-pointer layout");
  memcpy(&r, &m, sizeof r);
#if defined(__arm__) || defined(__aarch64__)
  if ((r.adj & 1) == 0) return -1;
  return static_cast<long>(r.ptr / sizeof(void*));
#else
  if ((r.ptr & 1) == 0) return -1;
  return static_cast<long>((r.ptr - 1) / sizeof(void*));
#endif
}

// Derived only to name v8::Platform's protected virtuals; never instantiated.
struct PlatformSlots : v8::Platform {
  template <typename P>
  static auto Impl(int) -> decltype(&P::PostTaskOnWorkerThreadImpl, &P::PostDelayedTaskOnWorkerThreadImpl, bool()) {
    // V8 >= 12: the public CallOnWorkerThread & co. are non-virtual and lead here.
    return Add(VirtualSlot(&P::PostTaskOnWorkerThreadImpl), reinterpret_cast<void*>(&HookPostImpl<0>)) &&
           Add(VirtualSlot(&P::PostDelayedTaskOnWorkerThreadImpl), reinterpret_cast<void*>(&HookPostDelayedImpl<1>));
  }
  template <typename P>
  static bool Impl(...) {
    // V8 11: the public methods are the virtuals.
    return Add(VirtualSlot(&P::CallOnWorkerThread), reinterpret_cast<void*>(&HookPost<0>)) &&
           Add(VirtualSlot(&P::CallBlockingTaskOnWorkerThread), reinterpret_cast<void*>(&HookPost<1>)) &&
           Add(VirtualSlot(&P::CallLowPriorityTaskOnWorkerThread), reinterpret_cast<void*>(&HookPost<2>)) &&
           Add(VirtualSlot(&P::CallDelayedOnWorkerThread), reinterpret_cast<void*>(&HookPostDelayed<3>));
  }
  static bool Add(long slot, void* fn) {
    if (slot < 0 || count >= 4) return false;
    slots[count] = slot;
    fns[count] = fn;
    count++;
    return true;
  }
  static long slots[4];
  static void* fns[4];
  static int count;
};
long PlatformSlots::slots[4];
void* PlatformSlots::fns[4];
int PlatformSlots::count = 0;
bool g_slotsOk = false;
void** g_vtableCopy = nullptr;  // the platform's vtable with the worker slots replaced (address point)
void** g_vtableReal = nullptr;  // the platform's own

// In the parent, once: a copy of the platform's vtable in which the worker-thread slots lead to the
// pool. After v8::Platform's virtuals come node::MultiIsolatePlatform's (node.h) and any NodePlatform
// adds (not in a public header): copy 512 slots, far more than all of them (about 40), or up to the
// end of the mapping. The vtable lies inside Node's readable data segment, so the copy reads
// nothing unreadable.
bool PrepareWorkerRouting(v8::Platform* platform) {
  if (!g_slotsOk || platform == nullptr) return false;
  void** vptr = *reinterpret_cast<void***>(platform);
  const long kHeader = 2;  // offset-to-top, RTTI
  long maxSlot = 0;
  for (int i = 0; i < PlatformSlots::count; i++) maxSlot = std::max(maxSlot, PlatformSlots::slots[i]);
  size_t have = MappedBytesFrom(vptr - kHeader, (kHeader + 512) * sizeof(void*));
  long n = static_cast<long>(have / sizeof(void*)) - kHeader;
  if (n <= maxSlot) return false;
  void** copy = static_cast<void**>(malloc((kHeader + n) * sizeof(void*)));
  if (copy == nullptr) return false;
  memcpy(copy, vptr - kHeader, (kHeader + n) * sizeof(void*));
  for (int i = 0; i < PlatformSlots::count; i++) {
    g_realFns[i] = vptr[PlatformSlots::slots[i]];
    copy[kHeader + PlatformSlots::slots[i]] = PlatformSlots::fns[i];
  }
  g_vtableReal = vptr;
  g_vtableCopy = copy + kHeader;
  return true;
}

// Points the platform object at one vtable or the other: in a child (one thread), or in the parent
// while every thread that could call the platform is parked (the self-check's routing probe).
void SetPlatformVtable(v8::Platform* platform, void** vtable) { *reinterpret_cast<void***>(platform) = vtable; }

class NopTask : public v8::Task {
 public:
  void Run() override {}
};
class NopJob : public v8::JobTask {
 public:
  void Run(v8::JobDelegate*) override {}
  size_t GetMaxConcurrency(size_t) const override { return 1; }
};

// The self-check's routing probe, run in the parent while every V8 worker is parked. With the
// child's vtable in place, a job is posted through Node's own job implementation (V8's
// DefaultJobState, compiled into Node: the way most of V8's background work is posted), plus a plain
// task: both must reach the hooks, which proves that V8's compiled code and the header the addon was
// built with agree on the slots. Other threads posting meanwhile are forwarded to Node (the hooks
// tell them apart). Returns how many of the 2 reached the hooks; the real vtable is back on return.
int ProbeWorkerRouting(v8::Platform* platform) {
  if (g_vtableCopy == nullptr || platform == nullptr) return 0;
  g_routeProbe = 0;
  g_probeThread = pthread_self();
  g_probing.store(true, std::memory_order_release);
  SetPlatformVtable(platform, g_vtableCopy);
  platform->CallOnWorkerThread(std::make_unique<NopTask>());
  std::unique_ptr<v8::JobHandle> job = platform->PostJob(v8::TaskPriority::kUserVisible, std::make_unique<NopJob>());
  SetPlatformVtable(platform, g_vtableReal);
  g_probing.store(false, std::memory_order_release);
  if (job) job->Cancel();  // its one worker task was dropped above; none is running
  return g_routeProbe;
}
const int kRouteProbes = 2;

// For the fork barrier in a child: stop starting threads and say how many to park.
int PoolFreeze() {
  if (!g_poolActive) return 0;
  pthread_mutex_lock(&g_pool.mu);
  g_pool.frozen = true;
  int n = g_pool.threads;
  pthread_mutex_unlock(&g_pool.mu);
  return n;
}

void PoolThaw() {
  if (!g_poolActive) return;
  pthread_mutex_lock(&g_pool.mu);
  g_pool.frozen = false;
  PoolMaybeStartThread();
  pthread_mutex_unlock(&g_pool.mu);
}

// Child side of fork(): first fork routes the platform's worker tasks to the pool; a grandchild
// re-creates the pool's primitives (their threads stayed behind) and keeps the queued tasks.
void PoolInChild(v8::Platform* platform) {
  PoolInitSync();
  g_pool.threads = 0;
  g_pool.idle = 0;
  g_pool.frozen = false;
  if (!g_poolActive) {
    g_pool.maxThreads = g_childWorkers;
    if (g_pool.maxThreads > 0 && g_vtableCopy != nullptr) {
      SetPlatformVtable(platform, g_vtableCopy);
      g_poolActive = true;
    }
  } else {
    PoolThaw();  // a thread for the tasks queued at the fork, if there are any
  }
}

}  // namespace

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

static void DropCompletedWork(void* head) {
  // struct uv__queue { next, prev }: an empty queue points at itself.
  void** q = static_cast<void**>(head);
  q[0] = head;
  q[1] = head;
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
  CensusInChild();
  AddonData* data = GetData(env);
  // Before the loop re-registers its descriptors: the parent's connections read end-of-file here.
  DetachInheritedConnections(data->loop);
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
  PoolInChild(g_platform);
  // I/O in flight at the fork is the parent's. Requests queued to the threadpool were queued to
  // threads that do not exist here (libuv starts a fresh queue in a child); work the threadpool had
  // completed but the loop not yet delivered is dropped too: delivered here, it would run the
  // parent's callbacks in the child, which then carry on the parent's I/O (the next read of a
  // readFile, on the parent's open file and its shared offset: the parent's own read then returned
  // nothing). The parent delivers all of it. Every inherited request is an orphan.
  DropCompletedWork(&data->loop->wq);
  g_orphanReqs = data->loop->active_reqs.count;
  if (!data->onLoopDry.IsEmpty()) {
    g_guard = new uv_prepare_t();
    uv_prepare_init(data->loop, g_guard);
    uv_prepare_start(g_guard, GuardOnPrepare);
  }
}

// ---------------------------------------------------------------------------------------------
// JS surface

static bool g_marking = false;          // V8 is marking incrementally (see finishMarking)
static uint32_t g_markingFinished = 0;  // mark-compacts finished by finishMarking
static double g_lastBarrierUs = 0, g_lastMadviseUs = 0, g_lastForkUs = 0;

static double NowUs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// fork() -> pid in the parent, 0 in the child; throws { code: 'EAGAIN', syscall: 'fork' } when the
// kernel refuses or the barrier timed out (forkStats().barrierTimeouts tells which).
// Parks the threads fork() must quiesce (in a child: the pool's, not the parent's V8 workers, which
// do not exist there); counts a timeout, which fork() reports as EAGAIN.
static bool HoldForFork() {
  // In a child the platform's worker methods lead to the pool (when active): park its threads.
  int v8n = g_inChild ? PoolFreeze() : g_v8Workers;
  if (Hold(v8n, g_threadpoolThreads, g_barrierTimeoutMs, nullptr)) return true;
  if (g_inChild) PoolThaw();
  g_barrierTimeouts++;
  return false;
}

static void ReleaseAfterFork() {
  Release();
  if (g_inChild) PoolThaw();
}

static bool g_census = true;  // setThreadCensus(false): fork whatever threads there are

// With the barrier closed (every thread it parks has been seen): threads it does not know would
// be missing in the child with their locks and queues copied. Throws { code:
// 'ERR_FORKSERVE_THREADS', threads: [{ tid, name }] } for posix.ts to explain, and releases.
static bool CensusRefuses(Napi::Env env) {
  if (!g_census) return false;
  std::vector<ForeignThread> foreign = ForeignThreads();
  if (foreign.empty()) return false;
  ReleaseAfterFork();
  Napi::Error e = Napi::Error::New(env, "fork: threads the fork barrier does not know");
  e.Set("code", Napi::String::New(env, "ERR_FORKSERVE_THREADS"));
  e.Set("threads", ForeignThreadsToJs(env, foreign));
  e.ThrowAsJavaScriptException();
  return true;
}

static Napi::Value Fork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double t0 = NowUs();
  bool batch = g_held;
  if (!batch && !HoldForFork()) return ThrowErrno(env, EAGAIN, "fork");
  if (!batch && CensusRefuses(env)) return env.Undefined();
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
  if (!batch) ReleaseAfterFork();
  double t3 = NowUs();
  g_lastBarrierUs = t1 - t0;
  g_lastMadviseUs = t2 - t1;
  g_lastForkUs = t3 - t2;
  if (pid < 0) return ThrowErrno(env, err, "fork");
  return Napi::Number::New(env, pid);
}

// forkSelfCheck(timeoutMs, probeMs) -> { ok, v8Posted, uvPosted, arrived, probesArrived, workerRouting,
// workerPostsRouted }. Parks every thread we believe exists, then posts one more item to each pool: if
// a probe runs while everyone is parked, a thread escaped the count and children could hang. While
// they are parked, it also proves that a child's worker posts would reach its pool.
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
  int arrivedUv = g_barrier.arrivedUv;
  pthread_mutex_unlock(&g_barrier.mu);
  int probes = 0;
  int routed = 0;  // of kRouteProbes: V8's worker posts that a child's pool would receive
  bool routing = v8n > 0 && g_childWorkers > 0;
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
    if (v8n > 0 && g_childWorkers > 0) routed = ProbeWorkerRouting(g_platform);
    Release();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, ok && probes == 0 && (!routing || routed == kRouteProbes)));
  o.Set("v8Posted", Napi::Number::New(env, v8n));
  o.Set("uvPosted", Napi::Number::New(env, uvn));
  o.Set("arrived", Napi::Number::New(env, arrived));
  o.Set("threadpoolArrived", Napi::Number::New(env, arrivedUv));
  o.Set("probesArrived", Napi::Number::New(env, probes));
  const char* routingState = !routing                          ? "off"
                             : !ok || probes != 0               ? "not run"
                             : routed == kRouteProbes           ? "ok"
                             : g_vtableCopy == nullptr          ? "no vtable slots"
                                                                : "incomplete";
  o.Set("workerRouting", Napi::String::New(env, routingState));
  o.Set("workerPostsRouted", Napi::Number::New(env, routed));
  return o;
}

// forkHold(): parks the threads now and keeps them parked for every fork() until forkRelease(),
// so a burst of forks pays for one barrier (two context switches per thread) instead of one each.
static Napi::Value ForkHold(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_held) return env.Undefined();
  if (!HoldForFork()) return ThrowErrno(env, EAGAIN, "fork");
  if (CensusRefuses(env)) return env.Undefined();
  g_held = true;
  return env.Undefined();
}

static Napi::Value ForkRelease(const Napi::CallbackInfo& info) {
  if (g_held) {
    g_held = false;
    ReleaseAfterFork();
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
  Napi::Object busy = Napi::Object::New(env);  // the last barrier that timed out
  busy.Set("v8Posted", Napi::Number::New(env, g_busyV8Posted));
  busy.Set("v8Parked", Napi::Number::New(env, g_busyV8Parked));
  busy.Set("threadpoolPosted", Napi::Number::New(env, g_busyUvPosted));
  busy.Set("threadpoolParked", Napi::Number::New(env, g_busyUvParked));
  o.Set("lastTimeout", busy);
  o.Set("lastBarrierUs", Napi::Number::New(env, g_lastBarrierUs));
  o.Set("lastMadviseUs", Napi::Number::New(env, g_lastMadviseUs));
  o.Set("lastForkUs", Napi::Number::New(env, g_lastForkUs));
  o.Set("childWorkersMax", Napi::Number::New(env, g_childWorkers));
  o.Set("childPoolActive", Napi::Boolean::New(env, g_poolActive));
  o.Set("markingFinished", Napi::Number::New(env, g_markingFinished));
  if (g_poolActive) {
    pthread_mutex_lock(&g_pool.mu);
    o.Set("childPoolThreads", Napi::Number::New(env, g_pool.threads));
    o.Set("childPoolPosted", Napi::Number::New(env, static_cast<double>(g_pool.posted)));
    o.Set("childPoolRan", Napi::Number::New(env, static_cast<double>(g_pool.ran)));
    o.Set("childPoolQueued", Napi::Number::New(env, static_cast<double>(g_pool.ready.size() + g_pool.delayed.size())));
    o.Set("childPoolStartFailures", Napi::Number::New(env, g_pool.startFailures));
    pthread_mutex_unlock(&g_pool.mu);
  }
#if defined(__linux__)
  o.Set("madviseErrors", Napi::Number::New(env, g_madviseErrors));
  o.Set("madvisePerMapping", Napi::Boolean::New(env, g_perMapping));
#endif
  return o;
}

static Napi::Value SetThreadCensus(const Napi::CallbackInfo& info) {
  g_census = info.Length() > 0 && info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

static Napi::Value SetBarrierTimeout(const Napi::CallbackInfo& info) {
  int32_t ms;
  if (!ArgInt(info, 0, &ms)) return info.Env().Undefined();
  g_barrierTimeoutMs = ms > 0 ? ms : 1;
  return info.Env().Undefined();
}

// setChildWorkers(n): the most V8 worker threads a forked child starts for itself (0: none, and
// V8's background work is lost in children as it was before; see above).
static Napi::Value SetChildWorkers(const Napi::CallbackInfo& info) {
  int32_t n;
  if (!ArgInt(info, 0, &n)) return info.Env().Undefined();
  if (!g_poolActive) g_childWorkers = std::max(0, n);
  return info.Env().Undefined();
}

// settleHeap(gcExposed): one full, ordinary mark-compact in the parent before its first fork.
// A forked child inherits V8's heap-sizing state, not a fresh one. Until an isolate's first
// mark-compact, V8 still shrinks its initial old-generation limit (about 250 MB) after every
// scavenge by the average survival ratio the GC tracer recorded; a child forked right after start
// inherits the parent's half-shrunk limit and the parent's survival history, reaches the floor
// (old generation + one growing step) within three scavenges and marks at about 10 MB, 0.4 s into
// serving, where a fresh process marks at about 18 MB, 1 s in. On Node 26 (V8 14) that early
// mark-compact lands in the short window in which V8 collects allocation-memento feedback for
// allocation sites it may pretenure (after deoptimizing their code when the new space reaches
// the pretenuring size): the feedback is lost, the code is re-optimized at once and makes no more,
// the sites never become "tenure", and the child copies its long-lived objects through the new
// space: twice the scavenges of a spawned process (measured; --trace-pretenuring-statistics).
// After one mark-compact the limit is computed from the live heap as in any process after its
// first, and children start from that (and copy no garbage). LowMemoryNotification() is no
// substitute: its memory-reducing GCs use the minimal growing factor, and the child still marks
// early. posix.ts makes that mark-compact an incremental one (startMarking below, then V8 finishes
// it); settleHeap is the fallback, a testing GC, which ends atomically.
// The testing GC requires --expose-gc: set for the call only, unless the process was started with
// it (`gcExposed`, argument 0 of settleHeap and finishMarking; Node does not freeze V8's flags).
static void FullGcNow(const Napi::CallbackInfo& info, v8::Isolate* isolate) {
  bool exposed = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  if (!exposed) v8::V8::SetFlagsFromString("--expose-gc");
  isolate->RequestGarbageCollectionForTesting(v8::Isolate::kFullGarbageCollection);
  if (!exposed) v8::V8::SetFlagsFromString("--no-expose-gc");
}

static Napi::Value SettleHeap(const Napi::CallbackInfo& info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr || g_inChild) return info.Env().Undefined();
  FullGcNow(info, isolate);
  return info.Env().Undefined();
}

// finishMarking(gcExposed) -> whether a mark-compact was finished here. V8 marks incrementally
// (its memory reducer starts marking some seconds after start and after bursts; allocation starts
// it too) and a child forked meanwhile inherits the half-done marking: every such child finished
// the parent's mark-compact itself, marking and compacting the whole inherited heap (measured on
// a hello server: 32 of 2,200 children, each a "Mark-Compact (reduce) ... finalize incremental
// marking" of 60-160 ms, in every ab run that crossed the reducer's start 8 s in). The parent
// finishes it once instead, before forking. V8 reports the start of incremental marking to GC
// prologue callbacks (kGCTypeIncrementalMarking) and the end of the mark-compact to epilogue
// callbacks. posix.ts lets V8 finish it (allocating until it does, see startMarking); this
// testing GC is the fallback when that takes too long.

static void MarkingOnStart(v8::Isolate*, v8::GCType, v8::GCCallbackFlags) { g_marking = true; }
static void MarkingOnEnd(v8::Isolate*, v8::GCType, v8::GCCallbackFlags) { g_marking = false; }

static Napi::Value FinishMarking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (!g_marking || isolate == nullptr || g_inChild) return Napi::Boolean::New(env, false);
  FullGcNow(info, isolate);
  g_marking = false;
  g_markingFinished++;
  return Napi::Boolean::New(env, true);
}

// startMarking() -> whether V8 is now marking incrementally. A testing GC (settleHeap,
// finishMarking) ends in an atomic mark-compact, and V8 keeps the speed of atomic mark-compacts
// apart and prefers it, for the life of the process, to the speed of its incremental ones when it
// sizes the heap (GCTracer::CombinedMarkCompactSpeedInBytesPerMillisecond). The atomic GC of a
// start-up heap before the first fork took 4 ms in 3 runs of 6 (0.8-0.9 MB/ms; 14-20 ms in the
// others), and those children grew their old generation by 1.7-2.0x at their first mark-compact
// where a spawned process, with no speed recorded yet, uses 4x; their second mark-compact came in
// the second in which V8 decides whether to pretenure allocation sites, which then never were,
// and they did twice the scavenges of a spawned one for the rest of their lives (Node 20,
// --trace-gc-verbose --trace-pretenuring-statistics). A mark-compact that ends incremental
// marking is recorded as incremental. V8 starts incremental marking with ordinary flags when
// external memory grows past its soft limit (64 MB over what it was at the last mark-compact), so
// that is reported and taken back at once; posix.ts then allocates until V8 finishes the marking
// itself. (Memory-pressure notifications start it too, but as a memory-reducing GC that leaves
// the smallest heap limit, which children inherit.)
static constexpr int64_t kExternalBump = 96 * 1024 * 1024;

static Napi::Value StartMarking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr || g_inChild) return Napi::Boolean::New(env, false);
  if (g_marking) return Napi::Boolean::New(env, true);
  // Past V8's hard limit for external memory (half the heap limit) it collects atomically instead.
  v8::HeapStatistics stats;
  isolate->GetHeapStatistics(&stats);
  if (stats.heap_size_limit() / 2 <= static_cast<size_t>(2 * kExternalBump)) return Napi::Boolean::New(env, false);
  isolate->AdjustAmountOfExternalAllocatedMemory(kExternalBump);
  isolate->AdjustAmountOfExternalAllocatedMemory(-kExternalBump);
  return Napi::Boolean::New(env, g_marking);
}

static Napi::Value IsMarking(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), g_marking); }

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
  if (isolate != nullptr) {
    isolate->AddGCPrologueCallback(MarkingOnStart, v8::kGCTypeIncrementalMarking);
    isolate->AddGCEpilogueCallback(MarkingOnEnd, v8::kGCTypeMarkSweepCompact);
  }
  g_threadpoolThreads = ThreadpoolSize();
  g_childWorkers = std::max(1, g_v8Workers);  // what a spawned Node would have; posix.ts may change it
  g_slotsOk = PlatformSlots::Impl<PlatformSlots>(0);
  PrepareWorkerRouting(g_platform);
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
  exports.Set("setThreadCensus", Napi::Function::New(env, SetThreadCensus, "setThreadCensus"));
  exports.Set("setLoopDryCallback", Napi::Function::New(env, SetLoopDryCallback, "setLoopDryCallback"));
  exports.Set("setChildWorkers", Napi::Function::New(env, SetChildWorkers, "setChildWorkers"));
  exports.Set("settleHeap", Napi::Function::New(env, SettleHeap, "settleHeap"));
  exports.Set("finishMarking", Napi::Function::New(env, FinishMarking, "finishMarking"));
  exports.Set("startMarking", Napi::Function::New(env, StartMarking, "startMarking"));
  exports.Set("isMarking", Napi::Function::New(env, IsMarking, "isMarking"));
}

}  // namespace forkserve
