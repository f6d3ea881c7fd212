//! Where the store and its client run: on any CPU, on the same vCPU, or on
//! two different vCPUs. On small virtual machines this decides small-object
//! latency more than any code does (a Unix-socket hand-over costs a few µs
//! on one vCPU and tens of µs across two), so small-object workloads run in
//! all three placements.
//!
//! Children inherit the CPU mask of the thread that spawns them, so a
//! process is pinned by spawning it from a thread pinned for that moment.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use serde::Serialize;

use crate::error::{BenchError, Result};

/// A placement of the store and the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// No pinning: the scheduler decides, and may move either at any time.
    Unpinned,
    /// Store and client pinned to the same vCPU.
    SameCpu,
    /// Store pinned to one vCPU, client to another.
    CrossCpu,
}

impl Placement {
    /// Every placement, in report order.
    pub const ALL: [Placement; 3] = [Self::Unpinned, Self::SameCpu, Self::CrossCpu];

    /// Short name for tables and file names.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unpinned => "unpinned",
            Self::SameCpu => "same vCPU",
            Self::CrossCpu => "cross vCPU",
        }
    }
}

/// The CPUs this process may use, and how placements map onto them.
#[derive(Clone, Debug)]
pub struct Cpus {
    all: CpuSet,
    ids: Vec<usize>,
}

impl Cpus {
    /// The CPUs of the calling thread's current mask.
    pub fn detect() -> Result<Cpus> {
        let all = sched_getaffinity(Pid::from_raw(0))
            .map_err(|e| BenchError::Setup(format!("sched_getaffinity: {e}")))?;
        let ids: Vec<usize> = (0..CpuSet::count())
            .filter(|&i| all.is_set(i).unwrap_or(false))
            .collect();
        if ids.is_empty() {
            return Err(BenchError::Setup("no CPU in this process's mask".into()));
        }
        Ok(Cpus { all, ids })
    }

    /// The ids of the usable CPUs.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// Whether this machine can run `placement` (cross needs two CPUs).
    pub fn supports(&self, placement: Placement) -> bool {
        placement != Placement::CrossCpu || self.ids.len() >= 2
    }

    /// The CPU the store is pinned to, if any.
    pub fn store_cpu(&self, placement: Placement) -> Option<usize> {
        match placement {
            Placement::Unpinned => None,
            Placement::SameCpu | Placement::CrossCpu => Some(self.ids[0]),
        }
    }

    /// The CPU the client is pinned to, if any.
    pub fn client_cpu(&self, placement: Placement) -> Option<usize> {
        match placement {
            Placement::Unpinned => None,
            Placement::SameCpu => Some(self.ids[0]),
            Placement::CrossCpu => self.ids.get(1).copied(),
        }
    }

    /// Runs `f` on the calling thread pinned to `cpu` (or on every CPU of
    /// the original mask for `None`), then unpins the thread again.
    pub fn pinned<T>(&self, cpu: Option<usize>, f: impl FnOnce() -> T) -> Result<T> {
        let mask = match cpu {
            None => self.all,
            Some(c) => {
                let mut one = CpuSet::new();
                one.set(c)
                    .map_err(|e| BenchError::Setup(format!("CPU {c}: {e}")))?;
                one
            }
        };
        set_mask(&mask)?;
        let out = f();
        set_mask(&self.all)?;
        Ok(out)
    }
}

fn set_mask(mask: &CpuSet) -> Result<()> {
    sched_setaffinity(Pid::from_raw(0), mask)
        .map_err(|e| BenchError::Setup(format!("sched_setaffinity: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_map_to_cpus() {
        let cpus = Cpus::detect().unwrap();
        assert_eq!(cpus.store_cpu(Placement::Unpinned), None);
        assert_eq!(cpus.client_cpu(Placement::Unpinned), None);
        assert_eq!(
            cpus.store_cpu(Placement::SameCpu),
            cpus.client_cpu(Placement::SameCpu)
        );
        if cpus.supports(Placement::CrossCpu) {
            assert_ne!(
                cpus.store_cpu(Placement::CrossCpu),
                cpus.client_cpu(Placement::CrossCpu)
            );
        }
    }

    #[test]
    fn pinning_is_undone_afterwards() {
        let cpus = Cpus::detect().unwrap();
        let first = cpus.ids()[0];
        let inside = cpus
            .pinned(Some(first), || sched_getaffinity(Pid::from_raw(0)).unwrap())
            .unwrap();
        assert!(inside.is_set(first).unwrap());
        let set_inside = (0..CpuSet::count())
            .filter(|&i| inside.is_set(i).unwrap())
            .count();
        assert_eq!(set_inside, 1);
        let after = Cpus::detect().unwrap();
        assert_eq!(after.ids(), cpus.ids());
    }
}
