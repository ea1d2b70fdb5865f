//! Waiting for a reply that is due any moment without putting the thread to sleep.
//!
//! A thread that sleeps on a socket is woken through the kernel's scheduler; in a virtual
//! machine, when the waking CPU differs from the sleeping one, that costs an
//! inter-processor interrupt through the hypervisor. On the 2-core VM in BENCHMARKS.md a
//! loopback round trip between two processes took 71–92 µs with both ends sleeping,
//! 25 µs with one end spinning and 8.5 µs with both. A client that waits on one round
//! trip after another therefore spins briefly before it sleeps, as a mutex does.
//!
//! A spinner yields its CPU to the operating system on each turn: when both ends share
//! one CPU, a spin that kept it would hold off the very peer it waits for (on the same
//! VM, a get took 70 µs with the client and the master pinned to one CPU, 10 µs on two).

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
        // The peer may be waiting for this very CPU: hand it over before spinning on.
        std::thread::yield_now();
        tokio::task::yield_now().await;
    }
}

/// Spins for a reply only while replies have been coming within the spin. Replies that
/// take longer mean the server is busy (with other clients' writes, say); spinning then
/// would only take the CPU that the server, on a small machine, needs to answer.
pub struct AdaptiveSpin {
    spin: Duration,
    /// A moving average of recent waits, each counted at most four spins long, so that
    /// one long wait (a `watch` idle for minutes) is forgotten after a few quick ones.
    typical: Duration,
}

impl AdaptiveSpin {
    pub fn new(spin: Duration) -> AdaptiveSpin {
        AdaptiveSpin {
            spin,
            typical: Duration::ZERO,
        }
    }

    /// `fut`'s output, spun for (see [`spin_then_wait`]) if recent waits were short.
    pub async fn wait<F: Future>(&mut self, fut: F) -> F::Output {
        let started = Instant::now();
        let spin = if self.spinning() {
            self.spin
        } else {
            Duration::ZERO
        };
        let out = spin_then_wait(fut, spin).await;
        let took = started.elapsed().min(self.spin * 4);
        self.typical = (self.typical * 3 + took) / 4;
        out
    }

    /// Whether the next wait spins.
    pub fn spinning(&self) -> bool {
        self.typical < self.spin
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

    #[tokio::test(flavor = "current_thread")]
    async fn spinning_stops_while_replies_come_late_and_resumes_when_they_are_quick() {
        let mut waits = AdaptiveSpin::new(Duration::from_millis(2));
        assert!(waits.spinning());
        for _ in 0..4 {
            waits
                .wait(tokio::time::sleep(Duration::from_millis(10)))
                .await;
        }
        assert!(!waits.spinning(), "replies 5x the spin still spun for");
        for _ in 0..8 {
            waits.wait(std::future::ready(())).await;
        }
        assert!(
            waits.spinning(),
            "quick replies did not bring the spin back"
        );
    }
}
