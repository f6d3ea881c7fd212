//! One timed measurement, and the summary of several.

use serde::Serialize;

/// One repetition of one workload by one client against one store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Operations (or objects, or bytes-moving puts) timed.
    pub ops: u64,
    /// Wall-clock seconds of the timed part.
    pub secs: f64,
    /// CPU seconds the store used meanwhile.
    pub store_cpu_secs: f64,
    /// CPU seconds the client (process or harness thread) used meanwhile.
    pub client_cpu_secs: f64,
    /// The store's context switches meanwhile (all its threads), when
    /// counted.
    pub store_switches: Option<Switches>,
    /// The client's (process, or harness thread) context switches
    /// meanwhile, when counted.
    pub client_switches: Option<Switches>,
}

/// Context switches of a process or thread over an interval
/// (`/proc/<pid>/status`). Voluntary ones are sleeps (each one a later
/// wake-up by someone else: the hand-overs a request costs); involuntary
/// ones are preemptions. Counts, not times: valid on a busy machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Switches {
    /// Sleeps: the thread blocked (poll, recv, futex) and was woken later.
    pub voluntary: u64,
    /// Preemptions: the scheduler took the CPU away.
    pub involuntary: u64,
}

impl std::ops::Add for Switches {
    type Output = Switches;
    fn add(self, o: Switches) -> Switches {
        Switches {
            voluntary: self.voluntary + o.voluntary,
            involuntary: self.involuntary + o.involuntary,
        }
    }
}

impl std::ops::Sub for Switches {
    type Output = Switches;
    fn sub(self, o: Switches) -> Switches {
        Switches {
            voluntary: self.voluntary.saturating_sub(o.voluntary),
            involuntary: self.involuntary.saturating_sub(o.involuntary),
        }
    }
}

impl Sample {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// Microseconds per operation.
    pub fn us_per_op(&self) -> f64 {
        self.secs * 1e6 / self.ops as f64
    }

    /// Store CPU microseconds per operation.
    pub fn store_cpu_us_per_op(&self) -> f64 {
        self.store_cpu_secs * 1e6 / self.ops as f64
    }

    /// Client CPU microseconds per operation.
    pub fn client_cpu_us_per_op(&self) -> f64 {
        self.client_cpu_secs * 1e6 / self.ops as f64
    }

    /// The store's sleeps (voluntary context switches) per operation, when
    /// counted.
    pub fn store_sleeps_per_op(&self) -> Option<f64> {
        self.store_switches
            .map(|s| s.voluntary as f64 / self.ops as f64)
    }

    /// The client's sleeps per operation, when counted.
    pub fn client_sleeps_per_op(&self) -> Option<f64> {
        self.client_switches
            .map(|s| s.voluntary as f64 / self.ops as f64)
    }
}

/// The `q` quantile (0 to 1) of sorted values; NaN for none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// Median, smallest and largest of some values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Summary {
    /// Summarizes `values`; `None` when there are none (or any is NaN).
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn rates_and_per_op_costs() {
        let s = Sample {
            ops: 1000,
            secs: 0.5,
            store_cpu_secs: 0.01,
            client_cpu_secs: 0.02,
            store_switches: Some(Switches {
                voluntary: 2000,
                involuntary: 5,
            }),
            client_switches: None,
        };
        assert_eq!(s.store_sleeps_per_op(), Some(2.0));
        assert_eq!(s.client_sleeps_per_op(), None);
        assert_eq!(s.ops_per_sec(), 2000.0);
        assert_eq!(s.us_per_op(), 500.0);
        assert!((s.store_cpu_us_per_op() - 10.0).abs() < 1e-9);
        assert!((s.client_cpu_us_per_op() - 20.0).abs() < 1e-9);
    }
}
