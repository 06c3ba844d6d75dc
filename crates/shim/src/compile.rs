//! The process that compiles an image's Wasm for the shim daemon
//! (`containerd-shim-spin-v2-server compile-wasm NAME`): the Wasm comes on stdin, the machine
//! code goes to stdout, errors (naming NAME) to stderr; `--engine-key` prints the key of the
//! engine's code instead. The Wasm is untrusted, so the compiler runs confined like a server:
//! PID 1 of its own PID namespace, no network, an empty read-only root, user nobody, no
//! capabilities, `no_new_privs`, the seccomp filter. The daemon only stores the code it gets in
//! containerd's content store.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use spinrt_confine::{Confinement, Namespace, User};
use spinrt_engine::{Engine, EngineConfig, PoolingLimits};

pub const SUBCOMMAND: &str = "compile-wasm";
const ENGINE_KEY: &str = "--engine-key";
/// The root the compiler sees: an empty directory.
const EMPTY_ROOT: &str = "/run/containerd-shim-spin/empty";
/// Far beyond what any component takes to compile here (seconds); a compiler stuck longer is
/// killed and the task fails saying so.
const TIMEOUT: Duration = Duration::from_secs(600);
const NOBODY: u32 = 65534;

/// One engine's settings for compiling, the same as a server's (one pooled slot is enough).
fn compile_config() -> EngineConfig {
    EngineConfig {
        cache_dir: None,
        pooling: PoolingLimits {
            total_component_instances: 1,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Runs the compiler process; its exit code.
pub fn main(arg: &str) -> i32 {
    match compile(arg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

fn compile(arg: &str) -> Result<()> {
    // Made here, not by the daemon, so the compiler stands on its own (a fresh node, a test).
    std::fs::create_dir_all(EMPTY_ROOT).with_context(|| format!("creating {EMPTY_ROOT}"))?;
    let confinement = Confinement {
        namespaces: [
            Namespace::Network,
            Namespace::Ipc,
            Namespace::Uts,
            Namespace::Mount,
            Namespace::Cgroup,
        ]
        .map(|n| (n, None))
        .to_vec(),
        rootfs: EMPTY_ROOT.into(),
        read_only_root: true,
        mounts: Vec::new(),
        hostname: None,
        user: User {
            uid: NOBODY,
            gid: NOBODY,
            additional_gids: Vec::new(),
        },
    };
    confinement.enter().context("confining the compiler")?;
    confinement
        .lock_down()
        .context("dropping the compiler's privileges")?;
    let engine = Engine::new(&compile_config())?;
    let out = if arg == ENGINE_KEY {
        format!("{:016x}", engine.compatibility_key()).into_bytes()
    } else {
        let mut wasm = Vec::new();
        std::io::stdin()
            .read_to_end(&mut wasm)
            .context("reading the Wasm")?;
        engine.precompile(arg, &wasm)?
    };
    std::io::stdout()
        .write_all(&out)
        .context("writing the machine code")?;
    Ok(())
}

/// How the caller learns a child's exit code: in the shim daemon, containerd-shim's reaper waits
/// for every child, so `Child::wait` would find none.
pub type ExitOf<'a> = &'a dyn Fn(u32) -> std::sync::mpsc::Receiver<i32>;

/// The machine code of `wasm` (named `name` in errors), from a confined compiler process.
pub fn machine_code(name: &str, wasm: &[u8], exit_of: ExitOf) -> Result<Vec<u8>> {
    run_compiler(name, wasm, exit_of)
}

/// The key of the machine code the compiler makes: equal for interchangeable code. Asked of a
/// compiler process once per server binary and boot, then read from [`KEYS_DIR`]: a process
/// costs every pod's start ~5 ms, and the key cannot change while the binary does not (it hashes
/// wasmtime's version, its settings and the CPU features it finds).
pub fn engine_key(exit_of: ExitOf) -> Result<u64> {
    let exe = crate::server_binary()?;
    kept_key(Path::new(KEYS_DIR), &exe, || {
        let out = run_compiler(ENGINE_KEY, &[], exit_of)?;
        let text = String::from_utf8_lossy(&out);
        parse_key(&text)
            .with_context(|| format!("the compiler's engine key is not a number: {text:?}"))
    })
}

/// The key kept in `dir` for the binary `exe`, else the one `ask` learns, kept there.
fn kept_key(dir: &Path, exe: &Path, ask: impl FnOnce() -> Result<u64>) -> Result<u64> {
    let kept = key_file(dir, exe)?;
    if let Some(key) = std::fs::read_to_string(&kept)
        .ok()
        .and_then(|t| parse_key(&t))
    {
        return Ok(key);
    }
    let key = ask()?;
    if let Err(e) = keep_key(&kept, key) {
        log::warn!("keeping the engine key in {}: {e:#}", kept.display());
    }
    Ok(key)
}

/// Where [`engine_key`] keeps the keys it learnt: under `/run`, so a reboot (new CPU
/// features, say) forgets them.
pub const KEYS_DIR: &str = "/run/containerd-shim-spin/engine-keys";

fn parse_key(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim(), 16).ok()
}

/// The file in `dir` for the key of the binary `exe` on this CPU: named after the file `exe`
/// is (a binary replaced or rewritten in place gets another name) and the CPU's features (a VM
/// moved to a host with others gets another name too, as its code would be refused).
fn key_file(dir: &Path, exe: &Path) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(exe).with_context(|| format!("reading {}", exe.display()))?;
    Ok(dir.join(format!(
        "{:x}-{:x}-{:x}-{}.{:09}-{}.{:09}-{:016x}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        cpu_features()
    )))
}

/// A hash of the features the kernel lists for the first CPU (`flags` on x86, `Features` on
/// arm64); read no further, as each CPU's entry costs the kernel work to print.
fn cpu_features() -> u64 {
    use std::io::BufRead;
    let line = std::fs::File::open("/proc/cpuinfo")
        .ok()
        .and_then(|f| {
            std::io::BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .find(|l| l.starts_with("flags") || l.starts_with("Features"))
        })
        .unwrap_or_default();
    hash(&line)
}

fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Writes the key whole or not at all: daemons of pods starting at once read it meanwhile.
fn keep_key(path: &Path, key: u64) -> Result<()> {
    let dir = path.parent().context("a key file has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    std::fs::write(&partial, format!("{key:016x}\n"))?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

fn run_compiler(arg: &str, input: &[u8], exit_of: ExitOf) -> Result<Vec<u8>> {
    let exe = crate::server_binary()?;
    let mut command = Command::new(&exe);
    command
        .arg(SUBCOMMAND)
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spinrt_confine::spawn_in_pid_namespace(&mut command, None)
        .with_context(|| format!("starting the compiler {}", exe.display()))?;
    let exit = exit_of(child.id());
    // Input and output move at once, each on a thread of its own, so neither side ever waits
    // on a full pipe.
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped")));
    let code = match exit.recv_timeout(TIMEOUT) {
        Ok(code) => code,
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            bail!(
                "compiling took longer than {} s; the compiler was killed",
                TIMEOUT.as_secs()
            );
        }
    };
    let _ = feeder.join();
    let joined = |t: std::thread::JoinHandle<std::io::Result<Vec<u8>>>| {
        t.join()
            .map_err(|_| anyhow::anyhow!("a thread reading the compiler panicked"))?
            .context("reading the compiler's output")
    };
    let (stdout, stderr) = (joined(stdout)?, joined(stderr)?);
    if code != 0 {
        let why = String::from_utf8_lossy(&stderr).trim().to_string();
        bail!("{why} (compiler exit code {code})");
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// `kept_key` with an `ask` that counts its calls.
    fn key_asking(dir: &Path, exe: &Path, answer: u64, asked: &Cell<u32>) -> u64 {
        kept_key(dir, exe, || {
            asked.set(asked.get() + 1);
            Ok(answer)
        })
        .unwrap()
    }

    /// A folder holding a stand-in server binary.
    fn a_build() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("server");
        std::fs::write(&exe, "one build").unwrap();
        (dir, exe)
    }

    #[test]
    fn an_engine_key_is_asked_once_per_binary() {
        let (dir, exe) = a_build();
        let keys = dir.path().join("keys");
        let asked = Cell::new(0);
        assert_eq!(key_asking(&keys, &exe, 0xab, &asked), 0xab);
        assert_eq!(key_asking(&keys, &exe, 0xcd, &asked), 0xab);
        assert_eq!(asked.get(), 1);

        // An upgrade rewrites the binary in place: its key is asked again.
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&exe, "another build").unwrap();
        assert_eq!(key_asking(&keys, &exe, 0xcd, &asked), 0xcd);
        assert_eq!(asked.get(), 2);
    }

    #[test]
    fn a_key_file_is_named_after_this_cpus_features() {
        let (dir, exe) = a_build();
        let name = key_file(dir.path(), &exe).unwrap();
        let features = cpu_features();
        assert!(
            name.to_string_lossy()
                .ends_with(&format!("-{features:016x}")),
            "{}",
            name.display()
        );
        // The kernel's list was found and read, not an empty line hashed.
        assert_ne!(features, hash(""));
    }

    #[test]
    fn a_damaged_key_file_is_asked_again() {
        let (dir, exe) = a_build();
        let kept = key_file(dir.path(), &exe).unwrap();
        std::fs::write(&kept, "not a key").unwrap();
        let asked = Cell::new(0);
        assert_eq!(key_asking(dir.path(), &exe, 0x12, &asked), 0x12);
        assert_eq!(asked.get(), 1);
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap(),
            "0000000000000012\n"
        );
    }
}
