// What an app brings into a fork that forkserve did not make: threads it does not park, and
// connections it did not open. (FORK-SAFETY.md section 7; issue 25.)
//
// Threads. Only the forking thread exists in a child; the fork barrier (fork.cc) parks the threads
// whose locks a child would otherwise inherit held: V8's platform workers and libuv's threadpool.
// Any other thread (a native addon's pool such as libvips's, a worker_threads Worker, a pino
// transport) is simply missing in the child while its queues and locks are copied: requests then
// hang, messages are never answered, or Node aborts (uv_async_send to a loop that is gone). The
// census names them. A thread is known if it existed when the addon loaded (Node's own: the main
// thread, the platform workers, the delayed-task scheduler, the inspector's signal thread) or if it
// has parked at the barrier (the threadpool, started lazily; a child's own V8 worker pool). The
// census runs with the barrier closed, so every parkable thread has been seen by then.
// Linux reads /proc/self/task; elsewhere the census finds nothing (macOS: no fallback yet).
//
// Connections. A client socket the parent opened (the global fetch pool, a database or Redis
// client) is one connection shared by every process that has the descriptor: responses land in
// whichever process reads first. In a child, each inherited connected stream socket of the event
// loop is swapped, descriptor number and all, for one end of a socket pair whose other end is
// closed: the child's copy reads end-of-file (writes fail with EPIPE), which every client library
// already handles as a server that closed an idle connection, and the parent's connection is
// untouched (no shutdown(), the parent still holds the open file description).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>
#include <vector>

#if defined(__linux__)
#include <dirent.h>
#include <sys/syscall.h>
#endif

#include "addon.h"

namespace forkserve {

// ---------------------------------------------------------------------------------------------
// Thread census

static pthread_mutex_t g_knownMu = PTHREAD_MUTEX_INITIALIZER;
static std::vector<long> g_known;  // thread ids (Linux tids)

#if defined(__linux__)
static long CurrentTid() { return static_cast<long>(syscall(SYS_gettid)); }

// Calls fn(tid) for each thread of this process.
template <typename F>
static void EachThread(F fn) {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    fn(strtol(e->d_name, nullptr, 10));
  }
  closedir(d);
}

static std::string ThreadName(long tid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[64];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return "";
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0')) n--;
  return std::string(buf, static_cast<size_t>(n));
}
#endif

static bool IsKnownLocked(long tid) { return std::find(g_known.begin(), g_known.end(), tid) != g_known.end(); }

void NoteParkedThread() {
#if defined(__linux__)
  static thread_local bool noted = false;  // a thread parks at every fork: note it once
  if (noted) return;
  noted = true;
  long tid = CurrentTid();
  pthread_mutex_lock(&g_knownMu);
  if (!IsKnownLocked(tid)) g_known.push_back(tid);
  pthread_mutex_unlock(&g_knownMu);
#endif
}

void CensusInChild() {
  // The child has one thread; its pool's threads, started later, note themselves when they park.
  pthread_mutex_init(&g_knownMu, nullptr);
  g_known.clear();
#if defined(__linux__)
  g_known.push_back(CurrentTid());
#endif
}

std::vector<ForeignThread> ForeignThreads() {
  std::vector<ForeignThread> out;
#if defined(__linux__)
  // One directory listing (reading /proc/self/stat for the thread count costs more: the kernel
  // sums every thread's times for it).
  pthread_mutex_lock(&g_knownMu);
  EachThread([&](long tid) {
    if (!IsKnownLocked(tid)) out.push_back({tid, ""});
  });
  pthread_mutex_unlock(&g_knownMu);
  for (ForeignThread& t : out) t.name = ThreadName(t.tid);
  // A thread that ended between the listing and the name read is gone: not foreign any more.
  out.erase(std::remove_if(out.begin(), out.end(), [](const ForeignThread& t) { return t.name.empty(); }), out.end());
#endif
  return out;
}

Napi::Array ForeignThreadsToJs(Napi::Env env, const std::vector<ForeignThread>& threads) {
  Napi::Array a = Napi::Array::New(env, threads.size());
  for (size_t i = 0; i < threads.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("tid", Napi::Number::New(env, static_cast<double>(threads[i].tid)));
    o.Set("name", Napi::String::New(env, threads[i].name));
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

// threadCensus() -> [{ tid, name }]: the threads of this process that the fork barrier does not
// know, now (without closing the barrier: a threadpool thread that has never parked counts).
static Napi::Value ThreadCensus(const Napi::CallbackInfo& info) {
  return ForeignThreadsToJs(info.Env(), ForeignThreads());
}

// ---------------------------------------------------------------------------------------------
// Inherited connections

static std::vector<std::string> g_inherited;  // this child's: what DetachInheritedConnections swapped

// "127.0.0.1:5432", "[::1]:6379", "unix:/run/redis.sock"; "" for a socket pair (no name).
static std::string PeerName(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  if (getpeername(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0) return "(not connected)";
  char host[INET6_ADDRSTRLEN] = "";
  char out[160];
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<struct sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    snprintf(out, sizeof(out), "%s:%u", host, ntohs(a->sin_port));
    return out;
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    snprintf(out, sizeof(out), "[%s]:%u", host, ntohs(a->sin6_port));
    return out;
  }
  if (ss.ss_family == AF_UNIX) {
    auto* a = reinterpret_cast<struct sockaddr_un*>(&ss);
    size_t pathLen = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    if (pathLen == 0) return "";
    if (a->sun_path[0] == '\0') return "unix:@" + std::string(a->sun_path + 1, strnlen(a->sun_path + 1, pathLen - 1));
    return "unix:" + std::string(a->sun_path, strnlen(a->sun_path, pathLen));
  }
  return "(a socket)";
}

static bool IsListening(int fd) {
  int on = 0;
  socklen_t len = sizeof(on);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on != 0;
}

static bool IsStreamSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

// One end of a socket pair whose other end is closed: reads end-of-file, writes fail with EPIPE.
static int HungUpSocket() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
  close(sv[1]);
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);  // libuv's streams are non-blocking
  return sv[0];
}

struct Walk {
  std::vector<int> fds;
};

void DetachInheritedConnections(uv_loop_t* loop) {
  g_inherited.clear();
  Walk walk;
  uv_walk(
      loop,
      [](uv_handle_t* h, void* arg) {
        if (uv_is_closing(h)) return;
        if (h->type != UV_TCP && h->type != UV_NAMED_PIPE) return;
        if (h->type == UV_NAMED_PIPE && reinterpret_cast<uv_pipe_t*>(h)->ipc) return;  // process.send's channel
        uv_os_fd_t fd;
        if (uv_fileno(h, &fd) != 0 || fd <= 2) return;  // the standard streams are the child's too
        static_cast<Walk*>(arg)->fds.push_back(fd);
      },
      &walk);
  int hungUp = -1;
  for (int fd : walk.fds) {
    if (!IsStreamSocket(fd) || IsListening(fd)) continue;
    std::string peer = PeerName(fd);
    // A socket pair is a channel to a child_process child (its stdio), which posix.ts detaches;
    // a connection has a peer with a name: a server's address or socket path.
    if (peer.empty()) continue;
    if (hungUp < 0 && (hungUp = HungUpSocket()) < 0) return;
#if defined(__linux__)
    if (dup3(hungUp, fd, O_CLOEXEC) < 0) continue;
#else
    if (dup2(hungUp, fd) < 0) continue;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
    g_inherited.push_back(peer);
  }
  if (hungUp >= 0) close(hungUp);
}

// inheritedConnections() -> the peers of the connections this child inherited and let go of.
static Napi::Value InheritedConnections(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env, g_inherited.size());
  for (size_t i = 0; i < g_inherited.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, g_inherited[i]));
  return a;
}

void InitInherited(Napi::Env env, Napi::Object exports) {
#if defined(__linux__)
  pthread_mutex_lock(&g_knownMu);
  EachThread([](long tid) { g_known.push_back(tid); });
  pthread_mutex_unlock(&g_knownMu);
#endif
  exports.Set("threadCensus", Napi::Function::New(env, ThreadCensus, "threadCensus"));
  exports.Set("inheritedConnections", Napi::Function::New(env, InheritedConnections, "inheritedConnections"));
}

}  // namespace forkserve
