//! Task metrics (`ctr task metrics`, CRI's ContainerStats: what kubelet and a CPU-based
//! HorizontalPodAutoscaler read), from the cgroup of the task's process.
//!
//! On cgroup v1 every figure is read here from the cgroup's files (in nanoseconds, from
//! `cpuacct`). On v2 containerd-shim collects memory and pids; its CPU usage is wrong for
//! containerd's reading (v2's microseconds in a field read as nanoseconds), so the usage is
//! read here from `cpu.stat`.

use containerd_shim::cgroup::collect_metrics;
use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;

use crate::daemon::any::{self, CGROUPS_V1_PACKAGE};
use crate::daemon::cgroup::V1Cgroup;

pub fn metrics(pid: u32) -> anyhow::Result<Any> {
    // On cgroup v1 from the hierarchies the daemon found once: containerd-shim's collection
    // reads the whole mount table two or three times per call, and kubelet asks for every
    // container's stats periodically.
    if let Some(cgroup) = V1Cgroup::of_process(pid) {
        return Ok(any::pack(CGROUPS_V1_PACKAGE, &v1_metrics(&cgroup?))?);
    }
    let mut metrics = collect_metrics(pid)?;
    let (total, user, kernel) = v2_cpu_usage_ns(pid)?;
    let mut usage = CPUUsage::new();
    usage.set_total(total);
    usage.set_user(user);
    usage.set_kernel(kernel);
    let mut cpu = metrics.cpu.take().unwrap_or_else(CPUStat::new);
    cpu.set_usage(usage);
    metrics.set_cpu(cpu);
    Ok(any::pack(CGROUPS_V1_PACKAGE, &metrics)?)
}

/// What containerd-shim's collection gives (CPU, memory, pids), from a v1 cgroup's files; a
/// controller whose files cannot be read is left out, as there.
fn v1_metrics(cgroup: &V1Cgroup) -> Metrics {
    let read = |controller: &str, file: &str| -> Option<String> {
        std::fs::read_to_string(cgroup.dir(controller).ok()?.join(file)).ok()
    };
    let number = |controller: &str, file: &str| -> Option<u64> {
        read(controller, file)?.trim().parse().ok()
    };
    let mut metrics = Metrics::new();
    if let Some(total) = number("cpuacct", "cpuacct.usage") {
        let mut usage = CPUUsage::new();
        usage.set_total(total);
        usage.set_user(number("cpuacct", "cpuacct.usage_user").unwrap_or(0));
        usage.set_kernel(number("cpuacct", "cpuacct.usage_sys").unwrap_or(0));
        let stat = read("cpu", "cpu.stat").unwrap_or_default();
        let mut throttling = Throttle::new();
        throttling.set_periods(stat_field(&stat, "nr_periods").unwrap_or(0));
        throttling.set_throttled_periods(stat_field(&stat, "nr_throttled").unwrap_or(0));
        throttling.set_throttled_time(stat_field(&stat, "throttled_time").unwrap_or(0));
        let mut cpu = CPUStat::new();
        cpu.set_usage(usage);
        cpu.set_throttling(throttling);
        metrics.set_cpu(cpu);
    }
    if let Some(usage) = number("memory", "memory.usage_in_bytes") {
        let mut entry = MemoryEntry::new();
        entry.set_usage(usage);
        entry.set_limit(number("memory", "memory.limit_in_bytes").unwrap_or(0));
        let mut memory = MemoryStat::new();
        memory.set_usage(entry);
        let stat = read("memory", "memory.stat").unwrap_or_default();
        memory.set_total_inactive_file(stat_field(&stat, "total_inactive_file").unwrap_or(0));
        metrics.set_memory(memory);
    }
    if let Some(current) = number("pids", "pids.current") {
        let mut pids = PidsStat::new();
        pids.set_current(current);
        // "max" reads as no limit, 0, as runc reports it.
        pids.set_limit(number("pids", "pids.max").unwrap_or(0));
        metrics.set_pids(pids);
    }
    metrics
}

/// `(total, user, kernel)` CPU time of the process's v2 cgroup, in nanoseconds.
fn v2_cpu_usage_ns(pid: u32) -> anyhow::Result<(u64, u64, u64)> {
    let path = containerd_shim::cgroup::get_cgroups_v2_path_by_pid(pid)?;
    let stat = std::fs::read_to_string(path.join("cpu.stat"))?;
    Ok(parse_v2_cpu_stat(&stat))
}

/// cgroup v2 `cpu.stat` (`usage_usec`, `user_usec`, `system_usec`) in nanoseconds.
fn parse_v2_cpu_stat(stat: &str) -> (u64, u64, u64) {
    let field = |name: &str| stat_field(stat, name).unwrap_or(0).saturating_mul(1000);
    (
        field("usage_usec"),
        field("user_usec"),
        field("system_usec"),
    )
}

/// The value of `name` in a cgroup stat file's `name value` lines.
fn stat_field(stat: &str, name: &str) -> Option<u64> {
    stat.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.trim().parse().ok())
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
