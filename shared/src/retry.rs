//! The one retry policy, for lost races (a conditional write that someone else beat) and for
//! requests DynamoDB left unprocessed: at most [`MAX_ATTEMPTS`] tries, with full-jitter
//! exponential backoff between them so racing writers spread out instead of colliding again.

use std::time::Duration;

/// Tries in all, the first included.
pub const MAX_ATTEMPTS: u32 = 8;
const BASE: Duration = Duration::from_millis(5);
const CAP: Duration = Duration::from_millis(400);

/// Counts tries and waits between them.
#[derive(Debug, Default)]
pub struct Backoff {
    tries: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Call before each try: the first goes at once, each later one after a jittered pause.
    /// `false` once [`MAX_ATTEMPTS`] tries have been made.
    pub async fn next_try(&mut self) -> bool {
        if self.tries >= MAX_ATTEMPTS {
            return false;
        }
        if let Some(pause) = self.pause() {
            tokio::time::sleep(pause).await;
        }
        self.tries += 1;
        true
    }

    /// The pause before the next try: none before the first, then a random share of a window
    /// that doubles each time (5 ms, 10 ms, … capped at 400 ms): at least half of it, at most all.
    fn pause(&self) -> Option<Duration> {
        let n = self.tries.checked_sub(1)?;
        let window = BASE.saturating_mul(1 << n.min(16)).min(CAP);
        let half = window.as_micros() as u64 / 2;
        Some(Duration::from_micros(
            half + rand::random::<u64>() % (half + 1),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tries_are_bounded_and_spaced_by_growing_jittered_pauses() {
        let mut backoff = Backoff::new();
        let start = tokio::time::Instant::now();
        assert!(backoff.next_try().await);
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the first try goes at once"
        );
        let mut pauses = Vec::new();
        let mut before = tokio::time::Instant::now();
        while backoff.next_try().await {
            pauses.push(before.elapsed());
            before = tokio::time::Instant::now();
        }
        assert_eq!(pauses.len() as u32, MAX_ATTEMPTS - 1);
        for (n, pause) in pauses.iter().enumerate() {
            let window = BASE.saturating_mul(1 << n).min(CAP);
            assert!(
                *pause >= window / 2 && *pause <= window,
                "pause {n}: {pause:?}"
            );
        }
        assert!(!backoff.next_try().await, "no try after the last");
    }
}
