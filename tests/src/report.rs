//! `benches/RESULTS.md`: each benchmark harness owns one section of it, so running one does not
//! erase another's figures.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Cores, CPU model and the date, for a results table's heading.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores, {model}, {date}")
}

/// Replaces the section `name` of `benches/RESULTS.md` (between its markers) with `text`, or
/// appends it; returns the file's path.
pub fn write_section(name: &str, text: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/RESULTS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmark results\n".into());
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let section = format!("{start}\n{}\n{end}", text.trim_end());
    let new = match (old.find(&start), old.find(&end)) {
        (Some(s), Some(e)) if s < e => {
            format!("{}{section}{}", &old[..s], &old[e + end.len()..])
        }
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    };
    std::fs::write(&path, new).expect("writing benches/RESULTS.md");
    path
}

/// CPU time a process has used so far (user and system), in clock ticks of 10 ms (`USER_HZ`,
/// 100 on every Linux build we run), from the text of its `/proc/PID/stat`, with its command.
pub fn cpu_ticks(stat: &str) -> Option<(String, u64)> {
    // The command sits in parentheses and may hold spaces.
    let (head, tail) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = tail.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

/// CPU seconds process `pid` (or `self`) has used so far.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ticks(&stat).map(|(_, ticks)| ticks as f64 / 100.0)
}
