//! A seccomp filter refusing what a server never needs and what breaks out of a container:
//! mounts, namespaces, tracing other processes, kernel modules and keys, clocks, reboots.
//! Everything else is allowed, so wasmtime, tokio and the host interfaces work unchanged.

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use crate::ConfineError;

/// Refused with EPERM. Names this architecture lacks are skipped.
const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
];

/// clone() flags that would make new namespaces.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

pub(crate) fn load_filter() -> Result<(), ConfineError> {
    build()
        .and_then(|f| f.load())
        .map_err(|e| ConfineError::Seccomp(e.to_string()))
}

fn build() -> Result<ScmpFilterContext, libseccomp::error::SeccompError> {
    let mut filter = ScmpFilterContext::new(ScmpAction::Allow)?;
    let eperm = ScmpAction::Errno(libc::EPERM);
    for name in DENIED {
        if let Ok(syscall) = ScmpSyscall::from_name(name) {
            filter.add_rule(eperm, syscall)?;
        }
    }
    let clone = ScmpSyscall::from_name("clone")?;
    for flag in NAMESPACE_FLAGS {
        filter.add_rule_conditional(
            eperm,
            clone,
            &[ScmpArgCompare::new(
                0,
                ScmpCompareOp::MaskedEqual(*flag),
                *flag,
            )],
        )?;
    }
    // clone3 passes its flags in memory, where a filter cannot look: ENOSYS makes the C library
    // fall back to clone, whose flags are checked above.
    filter.add_rule(
        ScmpAction::Errno(libc::ENOSYS),
        ScmpSyscall::from_name("clone3")?,
    )?;
    Ok(filter)
}
