// Cache-line prefetches for the exporter's hot paths, where each series and each queued point is a
// few dependent cache misses (its shard, entry, target, queue slot) that can be started a few items
// ahead of their use.
//
// Both are always inlined. GCC deems a function whose only effects are __builtin_prefetch calls pure
// and deletes the calls to it; and without -mprfchw it drops __builtin_prefetch(p, 1) altogether, so
// the write prefetch is written out as the PREFETCHW instruction (every AMD64 processor and Intel's
// since Broadwell have it; older Intel ones execute the opcode as a no-op). A prefetch never faults:
// a stale or freed address only wastes it.
#ifndef PROM2GCM_EXPORTER_PREFETCH_H_
#define PROM2GCM_EXPORTER_PREFETCH_H_

namespace prom2gcm {

// Fetches the line at address for reading.
[[gnu::always_inline]] inline void PrefetchForRead(const void* address) { __builtin_prefetch(address); }

// Fetches the line at address for writing: exclusive, so the store (or lock) that follows does not
// have to take it from another core's cache first.
[[gnu::always_inline]] inline void PrefetchForWrite(const void* address) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address, 1);
#endif
}

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_PREFETCH_H_
