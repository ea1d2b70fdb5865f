//! Waiting for a reply that is due any moment without putting the thread to sleep.
//!
//! A thread that sleeps on a socket is woken through the kernel's scheduler; in a virtual
//! machine, when the waking CPU differs from the sleeping one, that costs an
//! inter-processor interrupt through the hypervisor. On the 2-core VM in BENCHMARKS.md a
//! loopback round trip between two processes took 71–92 µs with both ends sleeping,
//! 25 µs with one end spinning and 8.5 µs with both. A client that waits on one round
//! trip after another therefore spins briefly before it sleeps, as a mutex does.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// How long a request-reply client spins before it sleeps: about two of this machine's
/// sleeping round trips, so a reply that comes in time costs no wake-up, and one that
/// does not (a journal write, a `wait`) costs at most this much CPU.
pub const REPLY_SPIN: Duration = Duration::from_micros(200);

/// How long a server spins for a client's next request: a client that sends one request
/// after another turns around in a few tens of microseconds.
pub const REQUEST_SPIN: Duration = Duration::from_micros(50);

/// `fut`'s output. For up to `spin`, the task yields to the runtime between polls (the
/// runtime then looks for ready I/O without sleeping) instead of going idle; then it
/// waits as usual.
pub async fn spin_then_wait<F: Future>(fut: F, spin: Duration) -> F::Output {
    spin_while(fut, spin, || true).await
}

/// As [`spin_then_wait`], spinning only while `worth_it()` says so: a server spins for
/// its client's next request only while nothing else on the machine needs the CPU.
pub async fn spin_while<F: Future>(
    fut: F,
    spin: Duration,
    worth_it: impl Fn() -> bool,
) -> F::Output {
    let mut fut = pin!(fut);
    let until = Instant::now() + spin;
    loop {
        if let Poll::Ready(out) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return out;
        }
        if Instant::now() >= until || !worth_it() {
            return fut.await;
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(flavor = "current_thread")]
    async fn a_reply_that_comes_while_spinning_or_after_is_read_whole() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            b.write_all(b"soon").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            b.write_all(b"late").await.unwrap();
        });
        let mut buf = [0u8; 4];
        spin_then_wait(a.read_exact(&mut buf), REPLY_SPIN)
            .await
            .unwrap();
        assert_eq!(&buf, b"soon");
        let started = Instant::now();
        spin_then_wait(a.read_exact(&mut buf), REPLY_SPIN)
            .await
            .unwrap();
        assert_eq!(&buf, b"late");
        // It waited past the spin for the late bytes, and not much longer.
        assert!(started.elapsed() < Duration::from_secs(5));
        writer.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spinning_lets_the_other_tasks_run() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The sender runs on the same thread only if the spinner yields; if it did not,
        // the answer would come only once the 10 s spin had ended.
        tokio::spawn(async move { tx.send(7).unwrap() });
        let started = Instant::now();
        let got = spin_then_wait(rx, Duration::from_secs(10)).await.unwrap();
        assert_eq!(got, 7);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
