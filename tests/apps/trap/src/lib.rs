//! Misbehaves on purpose: `/trap` traps (a Rust panic becomes `unreachable`), `/loop` spins
//! forever, `/slow` answers after 1.5 s (a request in flight), `/busy` burns 300 ms of CPU,
//! `/log` writes a line to stdout and one to stderr, `/remember` tries to leave state for the
//! next request (see [`remember`]), `/grow` fills 192 MiB of memory, `/flood` writes 64 MiB of
//! lines to stdout at once; anything else answers 200 so tests can see the server survived.
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    match req.path() {
        "/trap" => panic!("this component traps on purpose"),
        "/loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "/slow" => {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            Ok(Response::builder().status(200).body("slow done\n").build())
        }
        "/busy" => {
            let start = std::time::Instant::now();
            let mut n: u64 = 0;
            while start.elapsed() < std::time::Duration::from_millis(300) {
                n = std::hint::black_box(n.wrapping_add(1));
            }
            Ok(Response::builder().status(200).body("busy done\n").build())
        }
        "/log" => {
            println!("a line on stdout from the app");
            eprintln!("a line on stderr from the app");
            Ok(Response::builder().status(200).body("logged\n").build())
        }
        "/flood" => {
            use std::io::Write;
            let mut line = [b'f'; 1024];
            line[1023] = b'\n';
            let mut stdout = std::io::stdout().lock();
            for _ in 0..(64 << 10) {
                stdout.write_all(&line)?;
            }
            Ok(Response::builder()
                .status(200)
                .body(format!("flooded {} bytes\n", 64 << 20))
                .build())
        }
        "/remember" => Ok(Response::builder().status(200).body(remember()).build()),
        "/grow" => {
            // Touched, so the pages are really used.
            let block = vec![1u8; 192 << 20];
            let sum: u64 = block.iter().step_by(4096).map(|b| u64::from(*b)).sum();
            Ok(Response::builder()
                .status(200)
                .body(format!("grew {sum} pages\n"))
                .build())
        }
        _ => Ok(Response::builder()
            .status(200)
            .body("still alive\n")
            .build()),
    }
}

/// Marks spread over 24 MiB of linear memory: below and above what the host's pooling
/// allocator keeps resident between requests (16 MiB), so both ways it resets a slot are seen.
static MARKS: [AtomicU8; 24 << 20] = [const { AtomicU8::new(0) }; 24 << 20];
static CALLS: AtomicU32 = AtomicU32::new(0);

/// Counts this call and the marks an earlier request left, then leaves marks of its own. Every
/// request gets a fresh instance, so the answer must always be `calls=1 marks=0`.
fn remember() -> String {
    let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    let mut marks = 0;
    for at in (0..MARKS.len()).step_by(1 << 20).chain([MARKS.len() - 1]) {
        marks += MARKS[at].swap(1, Ordering::SeqCst) as usize;
    }
    format!("calls={calls} marks={marks}\n")
}
