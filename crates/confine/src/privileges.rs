//! The user, capabilities and `no_new_privs`.

use caps::CapSet;
use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

use crate::{ConfineError, User};

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
