//! A mount namespace whose `/` is the container's root filesystem, read-only, with the shim's
//! bind mounts in it and nothing of the host's.

use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};

use crate::{BindMount, ConfineError};

fn mount_error(what: String) -> impl FnOnce(nix::Error) -> ConfineError {
    move |source| ConfineError::Mount { what, source }
}

/// In a new mount namespace: binds `rootfs` onto itself, the `binds` into it, makes it
/// read-only if asked, and pivots into it, detaching the host's tree.
pub(crate) fn enter_rootfs(
    rootfs: &Path,
    binds: &[BindMount],
    read_only: bool,
) -> Result<(), ConfineError> {
    // Nothing mounted here may reach the host's namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(mount_error("/ private".into()))?;
    // pivot_root needs the new root to be a mount point.
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(mount_error(format!("{} onto itself", rootfs.display())))?;
    for bind in binds {
        bind_into(rootfs, bind)?;
    }
    if read_only {
        remount_read_only(rootfs, MsFlags::empty())
            .map_err(mount_error(format!("{} read-only", rootfs.display())))?;
    }

    chdir(rootfs).map_err(|source| ConfineError::PivotRoot {
        path: rootfs.to_path_buf(),
        source,
    })?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the
    // new root (no directory for the old root is needed in the image).
    pivot_root(".", ".").map_err(|source| ConfineError::PivotRoot {
        path: rootfs.to_path_buf(),
        source,
    })?;
    umount2(".", MntFlags::MNT_DETACH).map_err(mount_error("the host's root".into()))?;
    chdir("/").map_err(|source| ConfineError::PivotRoot {
        path: rootfs.to_path_buf(),
        source,
    })
}

fn remount_read_only(path: &Path, extra: MsFlags) -> nix::Result<()> {
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | extra,
        None::<&str>,
    )
}

fn bind_into(rootfs: &Path, bind: &BindMount) -> Result<(), ConfineError> {
    let target = target_in(rootfs, &bind.destination)?;
    let point_error = |source| ConfineError::MountPoint {
        path: bind.destination.clone(),
        source,
    };
    if bind.source.is_dir() {
        std::fs::create_dir_all(&target).map_err(point_error)?;
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(point_error)?;
        }
        if !target.exists() {
            std::fs::File::create(&target).map_err(point_error)?;
        }
    }
    // Created directories may be symbolic links made by nothing but the image: check again.
    target_in(rootfs, &bind.destination)?;
    let what = format!(
        "{} at {}",
        bind.source.display(),
        bind.destination.display()
    );
    mount(
        Some(&bind.source),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(mount_error(what.clone()))?;
    if bind.read_only {
        remount_read_only(&target, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
            .map_err(mount_error(format!("{what} read-only")))?;
    }
    Ok(())
}

/// `destination` inside `rootfs`, refused when a component is a symbolic link: resolved now,
/// before the pivot, it would point into the host's tree.
fn target_in(rootfs: &Path, destination: &Path) -> Result<PathBuf, ConfineError> {
    let mut path = rootfs.to_path_buf();
    for component in destination.components() {
        match component {
            Component::Normal(name) => path.push(name),
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ConfineError::UnsafeDestination(destination.to_path_buf()));
            }
        }
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(ConfineError::UnsafeDestination(destination.to_path_buf()));
        }
    }
    Ok(path)
}
