// Process signal helpers shared by the project's mains (prom2gcm, the GCM emulator, the load
// generator): each blocks its shutdown signals before starting threads, so every thread inherits the
// mask and the main thread takes them synchronously (sigwait / sigtimedwait) instead of in a handler.
//
// Thread-safety: call BlockSignals from the main thread before any other thread starts.
#ifndef PROM2GCM_SERVER_SIGNALS_H_
#define PROM2GCM_SERVER_SIGNALS_H_

#include <pthread.h>
#include <signal.h>

#include <initializer_list>

namespace prom2gcm {

// Blocks `signals` in the calling thread (and so in threads it starts afterwards); returns the set.
inline sigset_t BlockSignals(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : signals) sigaddset(&set, signal);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_SIGNALS_H_
