//! A WASI command for the command trigger: prints a line to stdout, one to stderr, and exits
//! with the code its `outcome` variable names ("success" or "failure"; WASI 0.2 commands exit
//! with success or failure, not a number).

fn main() {
    let outcome = spin_sdk::variables::get("outcome").unwrap_or_else(|e| format!("{e:?}"));
    println!("command ran: outcome {outcome}");
    eprintln!("command stderr line");
    match outcome.as_str() {
        "success" => {}
        "failure" => std::process::exit(1),
        other => panic!("unknown outcome '{other}'"),
    }
}
