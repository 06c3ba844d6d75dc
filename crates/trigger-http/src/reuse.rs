//! How long a WASI 0.3 instance lives: Spin serves up to 128 requests with one instance of a
//! `wasi:http/handler@0.3.0` component, 16 of them at once, and drops it after a second idle
//! (`spin up --max-instance-reuse-count`, `--max-instance-concurrent-reuse-count`,
//! `--idle-instance-timeout`). The same knobs here, as variables a pod's env can set; a count
//! of 1 gives every request a fresh instance. WASI 0.2 components always get a fresh instance
//! per request (their handler cannot be called twice), as in Spin.
//!
//! Each knob takes a value or a range `A..B` (end excluded), from which every new instance
//! draws its own, as Spin does: a guest cannot count on being dropped after a known number of
//! requests.

use std::time::Duration;

use rand::Rng;

pub const MAX_REUSE_ENV: &str = "SPIN_MAX_INSTANCE_REUSE_COUNT";
pub const MAX_CONCURRENT_REUSE_ENV: &str = "SPIN_MAX_INSTANCE_CONCURRENT_REUSE_COUNT";
pub const IDLE_TIMEOUT_ENV: &str = "SPIN_IDLE_INSTANCE_TIMEOUT";

/// A value, or a range (end excluded) each draw picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range<T> {
    Value(T),
    Between(T, T),
}

impl<T: Copy + PartialOrd + rand::distr::uniform::SampleUniform> Range<T> {
    pub fn draw(&self) -> T {
        match *self {
            Range::Value(v) => v,
            Range::Between(a, b) => rand::rng().random_range(a..b),
        }
    }
}

/// Spin's instance reuse settings for WASI 0.3 components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceReuse {
    /// Requests one instance serves before it is dropped.
    pub max_requests: Range<usize>,
    /// Requests one instance serves at once.
    pub max_concurrent: Range<usize>,
    /// How long an idle instance waits for another request.
    pub idle_timeout: Range<Duration>,
}

impl Default for InstanceReuse {
    /// Spin's defaults.
    fn default() -> Self {
        Self {
            max_requests: Range::Value(128),
            max_concurrent: Range::Value(16),
            idle_timeout: Range::Value(Duration::from_secs(1)),
        }
    }
}

impl InstanceReuse {
    /// A fresh instance for every request.
    pub const NONE: Self = Self {
        max_requests: Range::Value(1),
        max_concurrent: Range::Value(1),
        idle_timeout: Range::Value(Duration::ZERO),
    };

    /// Spin's defaults, overridden by the variables `lookup` gives.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut reuse = Self::default();
        if let Some(v) = lookup(MAX_REUSE_ENV) {
            reuse.max_requests = parse_range(MAX_REUSE_ENV, &v, parse_count)?;
        }
        if let Some(v) = lookup(MAX_CONCURRENT_REUSE_ENV) {
            reuse.max_concurrent = parse_range(MAX_CONCURRENT_REUSE_ENV, &v, parse_count)?;
        }
        if let Some(v) = lookup(IDLE_TIMEOUT_ENV) {
            reuse.idle_timeout = parse_range(IDLE_TIMEOUT_ENV, &v, parse_duration)?;
        }
        Ok(reuse)
    }
}

fn parse_range<T: PartialOrd>(
    name: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Range<T>, String> {
    let range = match text.split_once("..") {
        None => parse(text).map(Range::Value),
        Some((a, b)) => match (parse(a), parse(b)) {
            (Some(a), Some(b)) if a < b => Some(Range::Between(a, b)),
            _ => None,
        },
    };
    range.ok_or_else(|| {
        format!(
            "{name}={text}: expected a value or a range A..B (B excluded, A < B) of {}",
            if name == IDLE_TIMEOUT_ENV {
                "durations (`2`, `2s`, `500ms`)"
            } else {
                "whole numbers of at least 1"
            }
        )
    })
}

fn parse_count(text: &str) -> Option<usize> {
    text.trim().parse().ok().filter(|n| *n >= 1)
}

/// Seconds, or a number with `s` or `ms`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')
        .unwrap_or(text)
        .parse()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reuse(vars: &[(&str, &str)]) -> Result<InstanceReuse, String> {
        InstanceReuse::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn spins_defaults_unless_overridden() {
        assert_eq!(reuse(&[]).unwrap(), InstanceReuse::default());
        let set = reuse(&[
            (MAX_REUSE_ENV, "1"),
            (MAX_CONCURRENT_REUSE_ENV, "2..8"),
            (IDLE_TIMEOUT_ENV, "250ms"),
        ])
        .unwrap();
        assert_eq!(set.max_requests, Range::Value(1));
        assert_eq!(set.max_concurrent, Range::Between(2, 8));
        assert_eq!(set.idle_timeout, Range::Value(Duration::from_millis(250)));
        assert_eq!(
            reuse(&[(IDLE_TIMEOUT_ENV, "3")]).unwrap().idle_timeout,
            Range::Value(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_range_draws_within_its_bounds() {
        let range = Range::Between(2, 5);
        let drawn: Vec<usize> = (0..200).map(|_| range.draw()).collect();
        assert!(drawn.iter().all(|n| (2..5).contains(n)), "{drawn:?}");
        assert!(drawn.contains(&2) && drawn.contains(&4), "{drawn:?}");
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (name, value) in [
            (MAX_REUSE_ENV, "0"),
            (MAX_REUSE_ENV, "many"),
            (MAX_CONCURRENT_REUSE_ENV, "8..2"),
            (IDLE_TIMEOUT_ENV, "soon"),
        ] {
            let err = reuse(&[(name, value)]).unwrap_err();
            assert!(err.starts_with(&format!("{name}={value}:")), "{err}");
        }
    }
}
