//! Guest stdout and stderr. A guest's write goes into a bounded buffer and never waits: one
//! thread copies the buffer to the process's stdout and stderr (containerd's log pipe under the
//! shim, a terminal under `spinrt up`) at most at a set rate. When the buffer is full (the guest
//! writes faster than the rate, or than the log's reader reads), a write that does not fit is
//! dropped whole and counted, and the thread says so on stderr.
//!
//! Why: wasmtime's own stdio writes to the process's descriptor from the guest's thread. A
//! guest flooding its stdout then blocks the runtime's worker threads whenever the reader falls
//! behind (every other request of the pod waits), and pushes all it writes through containerd,
//! which every pod of the node shares.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The variable that sets the rate (bytes per second; 0: no limit).
pub const RATE_ENV: &str = "SPIN_GUEST_OUTPUT_RATE";
/// What a container's guests may write per second, stdout and stderr together, by default.
pub const DEFAULT_RATE: u64 = 4 << 20;
/// Output waiting to be written, at most: what a guest may write at once beyond the rate.
const BUFFER: usize = 1 << 20;
/// Drops are reported at most this often.
const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// The guests' stdout and stderr of one app (cheap to clone: all clones share the buffer).
#[derive(Clone)]
pub struct GuestOutput {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GuestOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestOutput")
            .field("rate", &self.shared.rate)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    /// Bytes per second; 0 for no limit.
    rate: u64,
    stdout: File,
    stderr: File,
    terminal: bool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Stream, Bytes)>,
    queued: usize,
    dropped: [u64; 2],
    writer_started: bool,
}

impl GuestOutput {
    /// Output to this process's stdout and stderr, at `rate` bytes per second (0: no limit).
    pub fn to_process_stdio(rate: u64) -> std::io::Result<Self> {
        let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
        let stderr = std::io::stderr().as_fd().try_clone_to_owned()?;
        Ok(Self::to_fds(stdout, stderr, rate))
    }

    /// Output to `stdout` and `stderr`, at `rate` bytes per second (0: no limit).
    pub fn to_fds(stdout: OwnedFd, stderr: OwnedFd, rate: u64) -> Self {
        let terminal = std::io::IsTerminal::is_terminal(&stdout);
        Self {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                ready: Condvar::new(),
                rate,
                stdout: File::from(stdout),
                stderr: File::from(stderr),
                terminal,
            }),
        }
    }

    /// The rate `SPIN_GUEST_OUTPUT_RATE` sets in the environment `lookup` reads, or the
    /// default.
    pub fn rate_from(lookup: impl Fn(&str) -> Option<String>) -> Result<u64, String> {
        match lookup(RATE_ENV) {
            None => Ok(DEFAULT_RATE),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{RATE_ENV}={v} is not a whole number of bytes per second")),
        }
    }

    /// Where the process's own log lines go: into the guests' stderr buffer, so a log line
    /// never blocks the server either (a log pipe nobody reads, as after `ctr run -d`, would
    /// stop it at its 64 KiB) and keeps its place among the guests' output.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter(self.clone())
    }

    pub fn stdout(&self) -> GuestStream {
        GuestStream {
            output: self.clone(),
            stream: Stream::Stdout,
        }
    }

    pub fn stderr(&self) -> GuestStream {
        GuestStream {
            output: self.clone(),
            stream: Stream::Stderr,
        }
    }

    /// Waits until what was written is out, at most `timeout`: before the process exits.
    pub fn flush(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().expect("not poisoned");
        while state.queued > 0 && Instant::now() < deadline {
            state = self
                .shared
                .ready
                .wait_timeout(state, Duration::from_millis(10))
                .expect("not poisoned")
                .0;
        }
    }

    /// Queues `bytes`, or drops them when the buffer cannot take them all.
    fn write(&self, stream: Stream, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        let mut state = self.shared.state.lock().expect("not poisoned");
        if state.queued + bytes.len() > BUFFER {
            state.dropped[stream as usize] += bytes.len() as u64;
            return;
        }
        state.queued += bytes.len();
        state.queue.push_back((stream, bytes));
        if !state.writer_started {
            // Started with the first write: an app that never prints costs no thread.
            let shared = self.shared.clone();
            match std::thread::Builder::new()
                .name("guest-output".into())
                .spawn(move || shared.write_out())
            {
                Ok(_) => state.writer_started = true,
                Err(e) => {
                    log::error!("starting the guest output thread: {e}");
                    state.queue.clear();
                    state.queued = 0;
                    return;
                }
            }
        }
        self.shared.ready.notify_all();
    }
}

impl Shared {
    /// The writer thread: forever copies the queue out, within the rate, and reports drops at
    /// most once a second (and when it has caught up).
    fn write_out(&self) {
        let mut budget = Budget::new(self.rate);
        let mut unreported = [0u64; 2];
        let mut reported_at = Instant::now() - NOTICE_INTERVAL;
        loop {
            let chunks = {
                let mut state = self.state.lock().expect("not poisoned");
                while state.queue.is_empty() && state.dropped == [0, 0] {
                    state = self.ready.wait(state).expect("not poisoned");
                }
                for (total, n) in unreported
                    .iter_mut()
                    .zip(std::mem::take(&mut state.dropped))
                {
                    *total += n;
                }
                std::mem::take(&mut state.queue)
            };
            for (stream, bytes) in chunks {
                budget.spend(bytes.len());
                // A closed log pipe is the reader's choice; the guest goes on regardless.
                let _ = self.file(stream).write_all(&bytes);
                let mut state = self.state.lock().expect("not poisoned");
                state.queued -= bytes.len();
                self.ready.notify_all();
            }
            let caught_up = self.state.lock().expect("not poisoned").queue.is_empty();
            if unreported != [0, 0] && (caught_up || reported_at.elapsed() >= NOTICE_INTERVAL) {
                self.report_drops(std::mem::take(&mut unreported));
                reported_at = Instant::now();
            }
        }
    }

    fn report_drops(&self, dropped: [u64; 2]) {
        for (stream, n) in ["stdout", "stderr"].into_iter().zip(dropped) {
            if n > 0 {
                let rate = match self.rate {
                    0 => String::new(),
                    r => format!("{RATE_ENV}={r} bytes/s, or "),
                };
                let notice = format!(
                    "spinrt: dropped {n} bytes of guest {stream}: written faster than {rate}what \
                     reads the log\n"
                );
                let _ = self.file(Stream::Stderr).write_all(notice.as_bytes());
            }
        }
    }

    fn file(&self, stream: Stream) -> &File {
        match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        }
    }
}

/// A token bucket: `rate` bytes a second, at most [`BUFFER`] saved up.
struct Budget {
    rate: u64,
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn new(rate: u64) -> Self {
        Self {
            rate,
            tokens: BUFFER as f64,
            at: Instant::now(),
        }
    }

    /// Takes `n` bytes' worth, sleeping until the bucket has them.
    fn spend(&mut self, n: usize) {
        if self.rate == 0 {
            return;
        }
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate as f64)
            .min(BUFFER as f64);
        self.at = now;
        self.tokens -= n as f64;
        if self.tokens < 0.0 {
            std::thread::sleep(Duration::from_secs_f64(-self.tokens / self.rate as f64));
        }
    }
}

/// See [`GuestOutput::log_writer`].
pub struct LogWriter(GuestOutput);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(Stream::Stderr, Bytes::copy_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One of a guest's output streams, as WASI 0.2 and 0.3 take it.
#[derive(Clone)]
pub struct GuestStream {
    output: GuestOutput,
    stream: Stream,
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        self.output.shared.terminal
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.output.write(self.stream, bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(BUFFER)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.output.write(self.stream, Bytes::copy_from_slice(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn pipe() -> (File, OwnedFd) {
        let (read, write) = std::io::pipe().unwrap();
        (File::from(OwnedFd::from(read)), OwnedFd::from(write))
    }

    /// Everything available on `pipe` within `wait`.
    fn drain(pipe: &mut File, wait: Duration) -> Vec<u8> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = vec![0; 1 << 16];
        nix::fcntl::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&*pipe),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        while Instant::now() < deadline {
            match pipe.read(&mut buf) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        out
    }

    #[test]
    fn a_guest_never_waits_for_a_reader_and_drops_are_reported() {
        let (mut out, out_w) = pipe();
        let (mut err, err_w) = pipe();
        let output = GuestOutput::to_fds(out_w, err_w, 0);
        let mut stream = output.stdout().p2_stream();
        // 64 MiB into a pipe nobody reads yet (it holds 64 KiB).
        let line = Bytes::from(vec![b'x'; 4096]);
        let start = Instant::now();
        for _ in 0..(16 << 10) {
            stream.write(line.clone()).unwrap();
        }
        let took = start.elapsed();
        assert!(took < Duration::from_secs(2), "the writes took {took:?}");
        let written = drain(&mut out, Duration::from_millis(500));
        assert!(
            written.len() <= BUFFER + (1 << 20) && written.len() >= 4096,
            "{} bytes reached stdout",
            written.len()
        );
        let notices = String::from_utf8(drain(&mut err, Duration::from_millis(500))).unwrap();
        let reported: u64 = notices
            .lines()
            .map(|l| {
                let n = l.strip_prefix("spinrt: dropped ").expect(l);
                let (n, rest) = n.split_once(' ').unwrap();
                assert!(rest.starts_with("bytes of guest stdout"), "{l}");
                n.parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(reported, (64 << 20) - written.len() as u64, "{notices}");
    }

    #[test]
    fn output_keeps_its_order_and_its_rate() {
        let (mut out, out_w) = pipe();
        let (_err, err_w) = pipe();
        let rate = 1 << 20;
        let output = GuestOutput::to_fds(out_w, err_w, rate);
        let mut stream = output.stdout().p2_stream();
        // The bucket starts full (1 MiB); 2 MiB more take 2 s at 1 MiB/s.
        let total = BUFFER + (2 << 20);
        let mut written = Vec::new();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = vec![0; 1 << 16];
            let start = Instant::now();
            let mut at_one_second = 0;
            while all.len() < total {
                let n = out.read(&mut buf).unwrap();
                all.extend_from_slice(&buf[..n]);
                if start.elapsed() < Duration::from_secs(1) {
                    at_one_second = all.len();
                }
            }
            (all, at_one_second, start.elapsed())
        });
        for i in 0..(total / 1024) {
            let chunk = Bytes::from(vec![b'a' + (i % 26) as u8; 1024]);
            written.extend_from_slice(&chunk);
            // Slow enough that nothing is dropped: the buffer is never full.
            while output.shared.state.lock().unwrap().queued + chunk.len() > BUFFER {
                std::thread::sleep(Duration::from_millis(1));
            }
            stream.write(chunk).unwrap();
        }
        let (read, at_one_second, took) = reader.join().unwrap();
        assert!(
            read == written,
            "the output is not what was written, in order"
        );
        assert!(
            at_one_second <= BUFFER + 2 * rate as usize,
            "{at_one_second} bytes in the first second"
        );
        assert!(
            took >= Duration::from_millis(1900),
            "{total} bytes in {took:?}"
        );
    }
}
