//! Task metrics for `ctr task metrics` and CRI's ContainerStats (what kubelet and the HPA read).
//!
//! PATCHED (spinrt): upstream fills the CPU usage from cgroup v2's `cpu.stat` in microseconds
//! into the cgroup v1 `Metrics` message, whose usage containerd reads as nanoseconds (1000x too
//! low on cgroup v2), and leaves it 0 on cgroup v1, where the usage lives in `cpuacct`. Memory
//! and pids come from upstream's collector unchanged; the CPU usage is read here, in
//! nanoseconds, from whichever hierarchy the task's cgroup is in.
use std::path::Path;

use anyhow::Result;
use cgroups_rs::{Cgroup, Subsystem, hierarchies};
use containerd_shim::cgroup::collect_metrics;
use containerd_shim::protos::cgroups::metrics::{CPUStat, CPUUsage, Metrics};
use containerd_shim::util::convert_to_any;
use protobuf::well_known_types::any::Any;

#[cfg_attr(feature = "tracing", tracing::instrument(level = "Debug"))]
pub fn get_metrics(pid: u32) -> Result<Any> {
    let mut metrics = collect_metrics(pid)?;
    if let Some(usage) = cpu_usage_ns(pid)? {
        set_cpu_usage(&mut metrics, usage);
    }
    Ok(convert_to_any(Box::new(metrics))?)
}

/// CPU time of the task's cgroup in nanoseconds: `(total, user, kernel)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuUsageNs {
    pub total: u64,
    pub user: u64,
    pub kernel: u64,
}

fn set_cpu_usage(metrics: &mut Metrics, usage: CpuUsageNs) {
    let mut cpu_usage = CPUUsage::new();
    cpu_usage.set_total(usage.total);
    cpu_usage.set_user(usage.user);
    cpu_usage.set_kernel(usage.kernel);
    let mut cpu = metrics.cpu.take().unwrap_or_else(CPUStat::new);
    cpu.set_usage(cpu_usage);
    metrics.set_cpu(cpu);
}

fn cpu_usage_ns(pid: u32) -> Result<Option<CpuUsageNs>> {
    let hierarchies = hierarchies::auto();
    if hierarchies.v2() {
        let path = containerd_shim::cgroup::get_cgroups_v2_path_by_pid(pid)?;
        let stat = std::fs::read_to_string(path.join("cpu.stat"))?;
        return Ok(Some(parse_v2_cpu_stat(&stat)));
    }
    let paths = cgroups_rs::cgroup::get_cgroups_relative_paths_by_pid(pid)?;
    let cgroup = Cgroup::load_with_relative_paths(hierarchies, Path::new("."), paths);
    Ok(cgroup.subsystems().iter().find_map(|s| match s {
        Subsystem::CpuAcct(acct) => {
            let acct = acct.cpuacct();
            Some(CpuUsageNs {
                total: acct.usage,
                user: acct.usage_user,
                kernel: acct.usage_sys,
            })
        }
        _ => None,
    }))
}

/// cgroup v2 `cpu.stat` (`usage_usec`, `user_usec`, `system_usec`) in nanoseconds.
pub fn parse_v2_cpu_stat(stat: &str) -> CpuUsageNs {
    let field = |name: &str| {
        stat.lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_mul(1000)
    };
    CpuUsageNs {
        total: field("usage_usec"),
        user: field("user_usec"),
        kernel: field("system_usec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_cpu_stat_is_read_in_nanoseconds() {
        let stat = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n";
        assert_eq!(
            parse_v2_cpu_stat(stat),
            CpuUsageNs {
                total: 1_500_000,
                user: 1_000_000,
                kernel: 500_000
            }
        );
    }
}
