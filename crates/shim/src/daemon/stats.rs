//! Task metrics (`ctr task metrics`, CRI's ContainerStats: what kubelet and a CPU-based
//! HorizontalPodAutoscaler read), from the cgroup of the task's process.
//!
//! containerd-shim collects memory and pids; its CPU usage is wrong for containerd's reading
//! (cgroup v2's microseconds in a field read as nanoseconds, and 0 on cgroup v1, where the
//! usage is in `cpuacct`), so the usage is read here in nanoseconds from whichever hierarchy
//! the cgroup is in.

use std::path::Path;

use cgroups_rs::{Cgroup, Subsystem, hierarchies};
use containerd_shim::cgroup::collect_metrics;
use containerd_shim::protos::cgroups::metrics::{CPUStat, CPUUsage};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::util::convert_to_any;

pub fn metrics(pid: u32) -> anyhow::Result<Any> {
    let mut metrics = collect_metrics(pid)?;
    if let Some((total, user, kernel)) = cpu_usage_ns(pid)? {
        let mut usage = CPUUsage::new();
        usage.set_total(total);
        usage.set_user(user);
        usage.set_kernel(kernel);
        let mut cpu = metrics.cpu.take().unwrap_or_else(CPUStat::new);
        cpu.set_usage(usage);
        metrics.set_cpu(cpu);
    }
    Ok(convert_to_any(Box::new(metrics))?)
}

/// `(total, user, kernel)` CPU time of the process's cgroup, in nanoseconds.
fn cpu_usage_ns(pid: u32) -> anyhow::Result<Option<(u64, u64, u64)>> {
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
            Some((acct.usage, acct.usage_user, acct.usage_sys))
        }
        _ => None,
    }))
}

/// cgroup v2 `cpu.stat` (`usage_usec`, `user_usec`, `system_usec`) in nanoseconds.
fn parse_v2_cpu_stat(stat: &str) -> (u64, u64, u64) {
    let field = |name: &str| {
        stat.lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_mul(1000)
    };
    (
        field("usage_usec"),
        field("user_usec"),
        field("system_usec"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_cpu_stat_is_read_in_nanoseconds() {
        let stat = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n";
        assert_eq!(parse_v2_cpu_stat(stat), (1_500_000, 1_000_000, 500_000));
    }
}
