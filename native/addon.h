// Shared declarations for the forkserve addon: per-environment data, error helpers, and the
// registration functions each source file provides.
//
// The addon is deliberately thin: one JS function per system call, plain numbers and small objects
// across the boundary, no policy. The only logic that lives here is what POSIX forces into C: the
// async-signal-safe SIGCHLD handler, the signal mask and thread quiescence around fork(), and the
// child's event-loop re-initialisation.
#pragma once

#include <napi.h>
#include <uv.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace forkserve {

struct AddonData {
  Napi::FunctionReference makeError;  // (errno, syscall, message) => PosixError, set by posix.ts
  Napi::FunctionReference onSignal;   // (totalDeliveries) => void
  Napi::FunctionReference onLoopDry;  // () => void, child only: nothing keeps the loop alive
  uv_loop_t* loop = nullptr;
};

AddonData* GetData(Napi::Env env);

// Throws the project's error class for `err` (a positive errno) and returns undefined.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall);
// Throws a TypeError and returns undefined.
Napi::Value ThrowType(Napi::Env env, const char* message);

// Argument helpers: false (with a TypeError pending) when the argument is missing or of the wrong type.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, int32_t* out);
bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, size_t offIndex, size_t lenIndex,
               char** data, size_t* len);

// Whole pages from `addr` (rounded down) that are mapped, up to `want` bytes (fork.cc).
size_t MappedBytesFrom(const void* addr, size_t want);

// Calls a JS callback with number arguments from a libuv callback (outside any JS frame) and reports a thrown
// exception as uncaught, as Node does for its own handles.
void CallFromLoop(Napi::Env env, Napi::FunctionReference& fn, std::initializer_list<double> numbers);

void InitErrors(Napi::Env env, Napi::Object exports);
void InitSockets(Napi::Env env, Napi::Object exports);
void InitProcess(Napi::Env env, Napi::Object exports);
void InitSignals(Napi::Env env, Napi::Object exports);
void InitFork(Napi::Env env, Napi::Object exports);
void InitWatch(Napi::Env env, Napi::Object exports);
void InitInherited(Napi::Env env, Napi::Object exports);

// The app's own threads and connections at a fork (inherited.cc).
struct ForeignThread {
  long tid;
  std::string name;
};
// Called on a thread when it parks at the fork barrier: a thread the barrier knows.
void NoteParkedThread();
// The threads of this process the barrier does not know (Linux; empty elsewhere).
std::vector<ForeignThread> ForeignThreads();
Napi::Array ForeignThreadsToJs(Napi::Env env, const std::vector<ForeignThread>& threads);
// In the child, right after fork(): only this thread is known.
void CensusInChild();
// In the child, before uv_loop_fork(): the parent's connections on `loop` read end-of-file here.
void DetachInheritedConnections(uv_loop_t* loop);

// Called by fork.cc in the child, with all signals blocked, after uv_loop_fork().
void SignalsInChild();

}  // namespace forkserve
