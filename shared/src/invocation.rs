//! How long one invocation may work. Lambda stops a function at its deadline, so a job that could
//! outgrow one invocation works against a [`Budget`], saves a checkpoint when the budget runs out,
//! and queues its own continuation; no job then has a size ceiling.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// When the current invocation is stopped: Lambda's deadline, or the local runtime's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// The longest a Lambda function may run; what a caller without a deadline gets.
    pub const LAMBDA_MAX: Duration = Duration::from_secs(900);

    /// The longest invocation Lambda allows, from now.
    pub fn longest() -> Self {
        Self::after(Self::LAMBDA_MAX)
    }

    pub fn after(time: Duration) -> Self {
        Self(Instant::now() + time)
    }

    /// Lambda's context gives the deadline as milliseconds since the epoch.
    pub fn from_epoch_millis(deadline_ms: u64) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let left = u128::from(deadline_ms).saturating_sub(now_ms);
        Self::after(Duration::from_millis(
            u64::try_from(left).unwrap_or(u64::MAX),
        ))
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// How a long job spends an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetPolicy {
    /// Work until two thirds of the time left at the start (and at least a minute short of the
    /// deadline when there is that much), keeping the rest for the checkpoint and hand-off.
    #[default]
    UntilDeadline,
    /// A fixed number of steps (pages) per invocation, whatever the clock says: tests use it to
    /// make a job span invocations deterministically.
    Steps(u32),
}

/// Kept in hand at the deadline: the checkpoint and the hand-off are a few requests.
const MAX_RESERVE: Duration = Duration::from_secs(60);

/// What is left of one invocation for a job's steps.
#[derive(Debug)]
pub struct Budget {
    stop_at: Option<Instant>,
    steps_left: Option<u32>,
    /// When the step now running began; `None` before the first.
    step_began: Option<Instant>,
    /// The longest step so far: a step is only begun if one as long still ends in time.
    longest_step: Duration,
}

impl Budget {
    pub fn new(policy: BudgetPolicy, deadline: Deadline) -> Self {
        match policy {
            BudgetPolicy::UntilDeadline => {
                let left = deadline.remaining();
                let reserve = (left / 3).min(MAX_RESERVE);
                Self {
                    stop_at: Some(Instant::now() + left.saturating_sub(reserve)),
                    steps_left: None,
                    step_began: None,
                    longest_step: Duration::ZERO,
                }
            }
            BudgetPolicy::Steps(steps) => Self {
                stop_at: None,
                steps_left: Some(steps),
                step_began: None,
                longest_step: Duration::ZERO,
            },
        }
    }

    /// Call before each step. The first step of an invocation always runs, so every invocation
    /// moves its job on; a later one only if it would end in time, were it as long as the
    /// longest so far.
    pub fn next_step(&mut self) -> bool {
        let now = Instant::now();
        let first = match self.step_began.replace(now) {
            None => true,
            Some(began) => {
                self.longest_step = self.longest_step.max(now - began);
                false
            }
        };
        let in_time = self.stop_at.is_none_or(|at| now + self.longest_step <= at);
        let allowed = match &mut self.steps_left {
            Some(0) => first,
            Some(left) => {
                *left -= 1;
                true
            }
            None => true,
        };
        first || (in_time && allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_budget_allows_that_many_steps() {
        let mut budget = Budget::new(BudgetPolicy::Steps(3), Deadline::after(Duration::ZERO));
        let steps: Vec<bool> = (0..5).map(|_| budget.next_step()).collect();
        assert_eq!(steps, [true, true, true, false, false]);
    }

    #[test]
    fn the_first_step_runs_even_past_the_deadline() {
        let mut budget = Budget::new(BudgetPolicy::UntilDeadline, Deadline::after(Duration::ZERO));
        assert!(budget.next_step());
        assert!(!budget.next_step());
        let mut none = Budget::new(BudgetPolicy::Steps(0), Deadline::longest());
        assert!(none.next_step());
        assert!(!none.next_step());
    }

    /// Steps of `step` until the budget refuses one; the number it allowed.
    async fn steps_allowed(budget: &mut Budget, step: Duration) -> u32 {
        let mut steps = 0;
        while budget.next_step() {
            steps += 1;
            tokio::time::advance(step).await;
        }
        steps
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_budget_keeps_a_third_in_hand() {
        let mut budget = Budget::new(
            BudgetPolicy::UntilDeadline,
            Deadline::after(Duration::from_secs(3)),
        );
        // Steps of 100 ms: the last begins at 1.9 s and ends at 2 s, a third short of 3 s.
        assert_eq!(
            steps_allowed(&mut budget, Duration::from_millis(100)).await,
            20
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_is_not_begun_if_one_as_long_as_the_longest_would_overrun() {
        let mut budget = Budget::new(
            BudgetPolicy::UntilDeadline,
            Deadline::after(Duration::from_secs(3)),
        );
        assert!(budget.next_step());
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert!(!budget.next_step(), "1.5 s + a 1.5 s step would pass 2 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_invocation_keeps_a_minute_in_hand() {
        let mut budget = Budget::new(BudgetPolicy::UntilDeadline, Deadline::longest());
        assert_eq!(
            steps_allowed(&mut budget, Duration::from_secs(1)).await,
            840
        );
    }

    #[test]
    fn lambdas_deadline_is_read_from_epoch_millis() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let left = Deadline::from_epoch_millis(now_ms + 10_000).remaining();
        assert!(left > Duration::from_secs(9) && left <= Duration::from_secs(10));
        assert_eq!(
            Deadline::from_epoch_millis(now_ms - 5).remaining(),
            Duration::ZERO
        );
    }
}

/// A point a handler test stops a function at, once: the function says it got there and waits
/// until the test lets it go (or drops it there, as a death). Never set outside tests.
#[derive(Debug, Clone, Default)]
pub struct HoldPoint {
    reached: std::sync::Arc<tokio::sync::Notify>,
    resume: std::sync::Arc<tokio::sync::Notify>,
    passed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HoldPoint {
    /// Waits until the function is held here.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held function go on.
    pub fn release(&self) {
        self.resume.notify_one();
    }

    /// In the function: the first time only, says it got here and waits to be released.
    pub async fn hold(&self) {
        if self.passed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.reached.notify_one();
        self.resume.notified().await;
    }
}
