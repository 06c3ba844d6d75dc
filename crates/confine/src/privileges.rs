//! The user, capabilities and `no_new_privs`.

use caps::CapSet;
use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

use crate::{ConfineError, User};

/// Runs `f` with no effective capability, then makes the permitted ones effective again. For
/// what must be opened before the process confines itself but must not carry a privilege with
/// it: the kernel checks some files' rights against the credentials they were opened with
/// (`/proc/self/pagemap` shows physical addresses when opened with `CAP_SYS_ADMIN`).
pub fn unprivileged<T>(f: impl FnOnce() -> T) -> Result<T, ConfineError> {
    let caps_error = |e: caps::errors::CapsError| ConfineError::Capabilities(e.to_string());
    let effective = caps::read(None, CapSet::Effective).map_err(caps_error)?;
    caps::clear(None, CapSet::Effective).map_err(caps_error)?;
    let value = f();
    caps::set(None, CapSet::Effective, &effective).map_err(caps_error)?;
    Ok(value)
}

/// Empties the bounding set (so nothing can be regained, even by exec), takes the user, then
/// empties every other set and sets `no_new_privs`.
pub(crate) fn drop_all(user: &User) -> Result<(), ConfineError> {
    let caps_error = |e: caps::errors::CapsError| ConfineError::Capabilities(e.to_string());
    // The bounding set needs CAP_SETPCAP, which changing to a non-root user takes away.
    caps::clear(None, CapSet::Bounding).map_err(caps_error)?;
    let user_error = |source| ConfineError::User {
        uid: user.uid,
        gid: user.gid,
        source,
    };
    let groups: Vec<Gid> = user
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&groups).map_err(user_error)?;
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).map_err(user_error)?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).map_err(user_error)?;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(caps_error)?;
    }
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS reads no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(ConfineError::NoNewPrivs(nix::Error::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    use caps::{CapSet, Capability};

    /// Whether `byte`'s page is present, and the physical frame `pagemap` shows for it (0 when
    /// hidden).
    fn frame_of(pagemap: &File, byte: &u8) -> (bool, u64) {
        // SAFETY: sysconf reads no memory of ours.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let mut entry = [0u8; 8];
        let index = std::ptr::from_ref(byte) as u64 / page_size;
        pagemap.read_exact_at(&mut entry, index * 8).unwrap();
        let entry = u64::from_le_bytes(entry);
        (entry >> 63 == 1, entry & ((1 << 55) - 1))
    }

    // The test suite runs as root, as the shim does.
    #[test]
    fn a_file_opened_unprivileged_carries_no_privilege() {
        let page = vec![1u8; 1 << 16];
        let privileged = File::open("/proc/self/pagemap").unwrap();
        let unprivileged = super::unprivileged(|| File::open("/proc/self/pagemap"))
            .unwrap()
            .unwrap();
        let (present, frame) = frame_of(&privileged, &page[0]);
        assert!(
            present && frame != 0,
            "opened with CAP_SYS_ADMIN: frames shown"
        );
        let (present, frame) = frame_of(&unprivileged, &page[0]);
        assert!(present, "the pagemap still reads");
        assert_eq!(frame, 0, "opened without privileges: frames hidden");
        assert!(
            caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap(),
            "the effective set is back"
        );
    }
}
