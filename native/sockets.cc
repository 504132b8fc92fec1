// Sockets and descriptors, one JS function per call: socket, setsockopt, getsockopt, bind, listen,
// accept, connect, getsockname, getpeername, read, write, recv, send, shutdown, close, pipe, poll,
// fcntl. fds are plain integers; the TS layer owns them and closes them. Addresses are (numeric
// host, port) for IPv4/IPv6, or a path alone for a unix socket ('@name': Linux's abstract namespace).
//
// See: man 2 socket, man 2 bind, man 2 listen, man 2 accept, man 2 connect, man 2 recv,
//      man 2 send, man 2 shutdown, man 2 close, man 2 pipe, man 2 poll, man 2 fcntl.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "addon.h"

namespace forkserve {

#ifdef MSG_NOSIGNAL
static const int kSendFlags = MSG_NOSIGNAL;  // EPIPE instead of SIGPIPE (Node ignores SIGPIPE anyway)
#else
static const int kSendFlags = 0;
#endif

// Parses a numeric IPv4/IPv6 address; empty string means "any" (IPv4).
static bool ToSockaddr(const std::string& host, int port, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof(*ss));
  auto* in4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (host.empty()) {
    in4->sin_family = AF_INET;
    in4->sin_addr.s_addr = htonl(INADDR_ANY);
    in4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

// A unix socket's path; a leading '@' names Linux's abstract namespace (a NUL byte on the wire), as
// ss(8) and systemd write it. Longer than sun_path: ENAMETOOLONG, as the kernel would say.
static int ToUnixSockaddr(const std::string& path, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof(*ss));
  auto* un = reinterpret_cast<sockaddr_un*>(ss);
  if (path.empty()) return EINVAL;
  if (path.size() >= sizeof(un->sun_path)) return ENAMETOOLONG;
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path, path.data(), path.size());
  if (path[0] == '@') {
#if defined(__linux__)
    un->sun_path[0] = '\0';
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    return 0;
#else
    return EAFNOSUPPORT;
#endif
  }
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return 0;
}

static Napi::Value FromSockaddr(Napi::Env env, const sockaddr_storage* ss, socklen_t len) {
  Napi::Object o = Napi::Object::New(env);
  char buf[INET6_ADDRSTRLEN] = "";
  if (ss->ss_family == AF_INET) {
    auto* in4 = reinterpret_cast<const sockaddr_in*>(ss);
    inet_ntop(AF_INET, &in4->sin_addr, buf, sizeof(buf));
    o.Set("family", Napi::String::New(env, "IPv4"));
    o.Set("address", Napi::String::New(env, buf));
    o.Set("port", Napi::Number::New(env, ntohs(in4->sin_port)));
  } else if (ss->ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    o.Set("family", Napi::String::New(env, "IPv6"));
    o.Set("address", Napi::String::New(env, buf));
    o.Set("port", Napi::Number::New(env, ntohs(in6->sin6_port)));
  } else if (ss->ss_family == AF_UNIX) {
    auto* un = reinterpret_cast<const sockaddr_un*>(ss);
    size_t offset = offsetof(sockaddr_un, sun_path);
    size_t n = len > offset ? len - offset : 0;
    std::string path(un->sun_path, std::min(n, sizeof(un->sun_path)));
    if (!path.empty() && path[0] == '\0') {
      path[0] = '@';  // abstract
    } else {
      path = path.substr(0, strnlen(path.c_str(), path.size()));  // a pathname ends at its NUL
    }
    o.Set("family", Napi::String::New(env, "Unix"));
    o.Set("address", Napi::String::New(env, path));  // "" for an unnamed peer (a connect()ing client)
    o.Set("port", Napi::Number::New(env, 0));
  } else {
    o.Set("family", Napi::String::New(env, "unknown"));
    o.Set("address", Napi::String::New(env, ""));
    o.Set("port", Napi::Number::New(env, 0));
  }
  return o;
}

// (address, port) for AF_INET/AF_INET6, or (path) alone for AF_UNIX. `syscall` names the call in
// errors about a unix path.
static bool ArgAddress(const Napi::CallbackInfo& info, size_t i, sockaddr_storage* ss, socklen_t* len, const char* syscall) {
  int32_t port;
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowType(info.Env(), "address must be a string");
    return false;
  }
  if (info.Length() <= i + 1 || info[i + 1].IsUndefined()) {
    int err = ToUnixSockaddr(info[i].As<Napi::String>().Utf8Value(), ss, len);
    if (err != 0) {
      ThrowErrno(info.Env(), err, syscall);
      return false;
    }
    return true;
  }
  if (!ArgInt(info, i + 1, &port)) return false;
  if (port < 0 || port > 65535) {
    Napi::RangeError::New(info.Env(), "port must be 0..65535").ThrowAsJavaScriptException();
    return false;
  }
  if (!ToSockaddr(info[i].As<Napi::String>().Utf8Value(), port, ss, len)) {
    // Same errno inet_pton users report for a malformed numeric address.
    ThrowErrno(info.Env(), EINVAL, "inet_pton");
    return false;
  }
  return true;
}

#define FD_ARG(name, index)               \
  int32_t name;                           \
  if (!ArgInt(info, index, &name)) return env.Undefined()

static Napi::Value Socket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t domain, type, protocol = 0;
  if (!ArgInt(info, 0, &domain) || !ArgInt(info, 1, &type)) return env.Undefined();
  if (info.Length() > 2 && !ArgInt(info, 2, &protocol)) return env.Undefined();
  int fd = socket(domain, type, protocol);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  return Napi::Number::New(env, fd);
}

static Napi::Value Setsockopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, level, name, value;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &level) || !ArgInt(info, 2, &name) ||
      !ArgInt(info, 3, &value))
    return env.Undefined();
  int v = value;
  if (setsockopt(fd, level, name, &v, sizeof(v)) < 0) return ThrowErrno(env, errno, "setsockopt");
  return env.Undefined();
}

static Napi::Value Getsockopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, level, name;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &level) || !ArgInt(info, 2, &name)) return env.Undefined();
  int v = 0;
  socklen_t len = sizeof(v);
  if (getsockopt(fd, level, name, &v, &len) < 0) return ThrowErrno(env, errno, "getsockopt");
  return Napi::Number::New(env, v);
}

static Napi::Value Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FD_ARG(fd, 0);
  sockaddr_storage ss;
  socklen_t len;
  if (!ArgAddress(info, 1, &ss, &len, "bind")) return env.Undefined();
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return ThrowErrno(env, errno, "bind");
  return env.Undefined();
}

static Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, backlog;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &backlog)) return env.Undefined();
  if (listen(fd, backlog) < 0) return ThrowErrno(env, errno, "listen");
  return env.Undefined();
}

// accept(fd[, flags]) -> { fd, family, address, port }. flags takes SOCK_NONBLOCK | SOCK_CLOEXEC;
// Linux applies them atomically with accept4(), elsewhere they are applied with fcntl() after accept().
// Whether the call blocks depends on the listening socket's O_NONBLOCK flag, as in C.
static Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FD_ARG(fd, 0);
  int32_t flags = 0;
  if (info.Length() > 1 && !ArgInt(info, 1, &flags)) return env.Undefined();
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
#if defined(__linux__)
  int cfd = flags != 0 ? accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, flags)
                       : accept(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (cfd < 0) return ThrowErrno(env, errno, "accept");
#else
  int cfd = accept(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (cfd < 0) return ThrowErrno(env, errno, "accept");
  // Values chosen by posix.ts for platforms without accept4: 1 = nonblock, 2 = cloexec.
  if (flags & 1) fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
  if (flags & 2) fcntl(cfd, F_SETFD, fcntl(cfd, F_GETFD) | FD_CLOEXEC);
  int one = 1;
  setsockopt(cfd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  Napi::Object o = FromSockaddr(env, &ss, len).As<Napi::Object>();
  o.Set("fd", Napi::Number::New(env, cfd));
  return o;
}

static Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FD_ARG(fd, 0);
  sockaddr_storage ss;
  socklen_t len;
  if (!ArgAddress(info, 1, &ss, &len, "connect")) return env.Undefined();
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return ThrowErrno(env, errno, "connect");
  return env.Undefined();
}

static Napi::Value SockName(const Napi::CallbackInfo& info, bool peer) {
  Napi::Env env = info.Env();
  FD_ARG(fd, 0);
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
               : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) return ThrowErrno(env, errno, peer ? "getpeername" : "getsockname");
  return FromSockaddr(env, &ss, len);
}
static Napi::Value Getsockname(const Napi::CallbackInfo& info) { return SockName(info, false); }
static Napi::Value Getpeername(const Napi::CallbackInfo& info) { return SockName(info, true); }

// The four calls that move bytes between a descriptor and a (buffer, offset, length) slice share
// their argument handling; `flags` (argument 4) is only read for recv/send.
template <typename Call>
static Napi::Value BufferIo(const Napi::CallbackInfo& info, const char* syscall, bool withFlags, Call call) {
  Napi::Env env = info.Env();
  FD_ARG(fd, 0);
  char* data;
  size_t len;
  int32_t flags = 0;
  if (!ArgBuffer(info, 1, 2, 3, &data, &len)) return env.Undefined();
  if (withFlags && info.Length() > 4 && !ArgInt(info, 4, &flags)) return env.Undefined();
  ssize_t n = call(fd, data, len, flags);
  if (n < 0) return ThrowErrno(env, errno, syscall);
  return Napi::Number::New(env, static_cast<double>(n));
}

// read(fd, buffer[, offset[, length]]) -> bytes read (0 at EOF)
static Napi::Value Read(const Napi::CallbackInfo& info) {
  return BufferIo(info, "read", false, [](int fd, char* d, size_t l, int) { return read(fd, d, l); });
}

// write(fd, buffer[, offset[, length]]) -> bytes written
static Napi::Value Write(const Napi::CallbackInfo& info) {
  return BufferIo(info, "write", false, [](int fd, char* d, size_t l, int) { return write(fd, d, l); });
}

// recv(fd, buffer, offset, length, flags) -> bytes received
static Napi::Value Recv(const Napi::CallbackInfo& info) {
  return BufferIo(info, "recv", true, [](int fd, char* d, size_t l, int f) { return recv(fd, d, l, f); });
}

// send(fd, buffer, offset, length, flags) -> bytes sent; never raises SIGPIPE.
static Napi::Value Send(const Napi::CallbackInfo& info) {
  return BufferIo(info, "send", true, [](int fd, char* d, size_t l, int f) { return send(fd, d, l, f | kSendFlags); });
}

static Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, how;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &how)) return env.Undefined();
  if (shutdown(fd, how) < 0) return ThrowErrno(env, errno, "shutdown");
  return env.Undefined();
}

// close(fd). EINTR is not retried: on Linux and macOS the descriptor is released either way
// (retrying could close an fd another thread has just been given).
static Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FD_ARG(fd, 0);
  if (close(fd) < 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

static Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe(fds) < 0) return ThrowErrno(env, errno, "pipe");
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, fds[0]));
  a.Set(1u, Napi::Number::New(env, fds[1]));
  return a;
}

// poll([{ fd, events }], timeoutMs) -> revents for each entry, in order.
static Napi::Value Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowType(env, "fds must be an array of { fd, events }");
  int32_t timeout = -1;
  if (info.Length() > 1 && !ArgInt(info, 1, &timeout)) return env.Undefined();
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<pollfd> fds(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) return ThrowType(env, "fds must be an array of { fd, events }");
    Napi::Object o = v.As<Napi::Object>();
    fds[i].fd = o.Get("fd").ToNumber().Int32Value();
    fds[i].events = static_cast<short>(o.Get("events").ToNumber().Int32Value());
    fds[i].revents = 0;
  }
  int r = poll(fds.data(), fds.size(), timeout);
  if (r < 0) return ThrowErrno(env, errno, "poll");
  Napi::Array out = Napi::Array::New(env, fds.size());
  for (uint32_t i = 0; i < fds.size(); i++) out.Set(i, Napi::Number::New(env, fds[i].revents));
  return out;
}

// fcntl(fd, cmd[, arg]) for the integer commands (F_GETFL/F_SETFL/F_GETFD/F_SETFD).
static Napi::Value Fcntl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd, cmd, arg = 0;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &cmd)) return env.Undefined();
  if (info.Length() > 2 && !ArgInt(info, 2, &arg)) return env.Undefined();
  if (cmd != F_GETFL && cmd != F_SETFL && cmd != F_GETFD && cmd != F_SETFD)
    return ThrowErrno(env, EINVAL, "fcntl");
  int r = fcntl(fd, cmd, arg);
  if (r < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, r);
}

void InitSockets(Napi::Env env, Napi::Object exports) {
  exports.Set("socket", Napi::Function::New(env, Socket, "socket"));
  exports.Set("setsockopt", Napi::Function::New(env, Setsockopt, "setsockopt"));
  exports.Set("getsockopt", Napi::Function::New(env, Getsockopt, "getsockopt"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("getsockname", Napi::Function::New(env, Getsockname, "getsockname"));
  exports.Set("getpeername", Napi::Function::New(env, Getpeername, "getpeername"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("recv", Napi::Function::New(env, Recv, "recv"));
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("fcntl", Napi::Function::New(env, Fcntl, "fcntl"));

  Napi::Object c = Napi::Object::New(env);
#define C(name) c.Set(#name, Napi::Number::New(env, name))
  C(AF_INET); C(AF_INET6); C(AF_UNIX); C(SOCK_STREAM); C(SOCK_DGRAM); C(IPPROTO_TCP);
  C(SOL_SOCKET); C(SO_REUSEADDR); C(SO_KEEPALIVE); C(SO_RCVBUF); C(SO_SNDBUF); C(SO_ERROR);
  C(SO_LINGER); C(SO_TYPE); C(SO_ACCEPTCONN); C(TCP_NODELAY); C(SHUT_RD); C(SHUT_WR); C(SHUT_RDWR); C(SOMAXCONN);
  C(MSG_PEEK); C(MSG_DONTWAIT);
  C(POLLIN); C(POLLOUT); C(POLLERR); C(POLLHUP); C(POLLNVAL);
  C(F_GETFL); C(F_SETFL); C(F_GETFD); C(F_SETFD); C(O_NONBLOCK); C(FD_CLOEXEC);
#ifdef SO_REUSEPORT
  C(SO_REUSEPORT);
#endif
#if defined(__linux__)
  C(SOCK_NONBLOCK); C(SOCK_CLOEXEC); C(TCP_DEFER_ACCEPT);
#else
  c.Set("SOCK_NONBLOCK", Napi::Number::New(env, 1));
  c.Set("SOCK_CLOEXEC", Napi::Number::New(env, 2));
#endif
#undef C
  exports.Set("socketConstants", c);
}

}  // namespace forkserve
