//! How the C allocator hands memory back to the system.
//!
//! glibc returns freed memory at the top of its heaps to the system as soon as more than
//! 128 KiB is free there, and grows a heap by little more than each request, so a query's
//! hash tables and batches, allocated and freed over and over, are faulted in page by
//! page every time. Growing heaps by 64 MiB at a time and keeping up to 64 MiB free at
//! their top (the most glibc's own adaptive threshold keeps) cut a TPC-H SF 1 query's page
//! faults by a quarter and the 22 queries' time by 6–12% (BENCHMARKS.md, "The allocator
//! keeps freed memory nearby").

/// Heaps grow by this much beyond each request.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: libc::c_int = 64 << 20;
/// Free memory at a heap's top is given back once it passes this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 64 << 20;
/// Allocations this large get mappings of their own, returned whole when freed: glibc's
/// own ceiling for its adaptive threshold, fixed from the start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Sets the allocator's thresholds; call before any thread starts.
pub fn keep_freed_memory_nearby() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; called while this is
    // the only thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
    }
}
