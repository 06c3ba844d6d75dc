//! Misbehaves on purpose: `/trap` traps (a Rust panic becomes `unreachable`), `/loop` spins
//! forever, `/slow` answers after 1.5 s (a request in flight), `/busy` burns 300 ms of CPU,
//! `/log` writes a line to stdout and one to stderr; anything else answers 200 so tests can see
//! the server survived.
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
        _ => Ok(Response::builder()
            .status(200)
            .body("still alive\n")
            .build()),
    }
}
