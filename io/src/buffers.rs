//! Reused buffers for the bytes of splits. A buffer of tens of MiB fresh from the
//! allocator is mapped anew and faulted in page by page as it fills: filling 64 MiB that
//! way took 40 ms on the 2-core machine of BENCHMARKS.md ("A split's bytes in a reused
//! buffer"), against 3.5 ms for the same pages filled again. A split's bytes are parsed
//! into Arrow arrays and then dropped, so a process needs as many buffers as splits it
//! holds at once; those it keeps for the next splits, and frees once no split has come
//! for a while (the scans are over, and the memory is the next stage's).

use bytes::Bytes;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// Buffers smaller than this are cheap to allocate, and not kept.
const KEEP_FROM: usize = 1 << 20;

/// The process's buffers for splits: it keeps what the process needed at once, up to
/// 512 MiB in all, each for 2 s unused at most.
pub static SPLITS: Pool = Pool::new(512 << 20, Duration::from_secs(2));

/// Buffers kept for reuse, up to `keep_bytes` of capacity in all, each for `idle` at most.
pub struct Pool {
    free: Mutex<Vec<Kept>>,
    keep_bytes: usize,
    idle: Duration,
    trimmer: Once,
}

struct Kept {
    buf: Vec<u8>,
    since: Instant,
}

impl Pool {
    pub const fn new(keep_bytes: usize, idle: Duration) -> Pool {
        Pool {
            free: Mutex::new(Vec::new()),
            keep_bytes,
            idle,
            trimmer: Once::new(),
        }
    }

    fn free(&self) -> MutexGuard<'_, Vec<Kept>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer with room for `len` bytes: the smallest kept one that fits (large
    /// ones stay for large splits), or a new one. Kept buffers too small for it are freed
    /// then: a job's splits are mostly of one size, so they would only hold memory.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut free = self.free();
        let fits = free
            .iter()
            .enumerate()
            .filter(|(_, k)| k.buf.capacity() >= len)
            .min_by_key(|(_, k)| k.buf.capacity())
            .map(|(i, _)| i);
        match fits {
            Some(i) => {
                let mut buf = free.swap_remove(i).buf;
                buf.clear();
                buf
            }
            None => {
                free.retain(|k| k.buf.capacity() >= len);
                drop(free);
                Vec::with_capacity(len)
            }
        }
    }

    /// The bytes of `buf`, which comes back to the pool once the last view of it is
    /// dropped.
    pub fn share(&'static self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returned { buf, pool: self })
    }

    /// How many bytes of buffers are kept now.
    pub fn kept_bytes(&self) -> usize {
        capacity(&self.free())
    }

    fn give_back(&'static self, buf: Vec<u8>) {
        let size = buf.capacity();
        if size < KEEP_FROM {
            return;
        }
        let mut free = self.free();
        if capacity(&free) + size > self.keep_bytes {
            return;
        }
        free.push(Kept {
            buf,
            since: Instant::now(),
        });
        drop(free);
        self.trimmer.call_once(|| self.start_trimming());
    }

    /// A thread that frees the buffers unused for `idle`, looking every `idle`; if it
    /// cannot start, buffers are kept until taken (and the bound still holds).
    fn start_trimming(&'static self) {
        let trim = move || loop {
            std::thread::sleep(self.idle);
            self.free().retain(|k| k.since.elapsed() < self.idle);
        };
        let _ = std::thread::Builder::new()
            .name("spindle-buffers".into())
            .spawn(trim);
    }
}

fn capacity(kept: &[Kept]) -> usize {
    kept.iter().map(|k| k.buf.capacity()).sum()
}

struct Returned {
    buf: Vec<u8>,
    pool: &'static Pool,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_buffer_comes_back_when_its_last_view_is_dropped_and_is_reused() {
        static POOL: Pool = Pool::new(8 << 20, HOUR);
        let len = 3 << 20;
        let mut buf = POOL.take(len);
        buf.extend(std::iter::repeat_n(7u8, len));
        let ptr = buf.as_ptr();
        let bytes = POOL.share(buf);
        let view = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(POOL.kept_bytes(), 0, "a view still holds it");
        assert_eq!(&view[..], &[7u8; 10]);
        drop(view);
        assert_eq!(POOL.kept_bytes(), len, "back in the pool");

        let again = POOL.take(len - 1);
        assert_eq!(again.as_ptr(), ptr, "the same memory, reused");
        assert!(again.is_empty(), "handed out empty");
        drop(again);
        assert_eq!(POOL.kept_bytes(), 0);

        // Small buffers are not worth keeping.
        drop(POOL.share(POOL.take(4096)));
        assert_eq!(POOL.kept_bytes(), 0);
    }

    #[test]
    fn the_pool_keeps_no_more_than_its_bound_nor_buffers_too_small_for_the_next_split() {
        static POOL: Pool = Pool::new(8 << 20, HOUR);
        let (a, b, c) = (POOL.take(3 << 20), POOL.take(3 << 20), POOL.take(3 << 20));
        for buf in [a, b, c] {
            drop(POOL.share(buf));
        }
        assert_eq!(POOL.kept_bytes(), 6 << 20, "the third would pass 8 MiB");

        let larger = POOL.take(5 << 20);
        assert_eq!(POOL.kept_bytes(), 0, "the smaller buffers went");
        drop(POOL.share(larger));
        assert_eq!(POOL.kept_bytes(), 5 << 20);
    }

    #[test]
    fn buffers_unused_for_the_idle_time_are_freed() {
        static POOL: Pool = Pool::new(8 << 20, Duration::from_millis(100));
        drop(POOL.share(POOL.take(2 << 20)));
        assert_eq!(POOL.kept_bytes(), 2 << 20);
        let started = Instant::now();
        while POOL.kept_bytes() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still kept after 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Freed by the trimmer between 100 ms (its idle time) and two of its rounds.
        assert!(started.elapsed() < Duration::from_millis(1000));
    }
}
