//! `spinrt`: run Spin apps locally, pack and push them, install the shim on a node.

mod commands;
mod install;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "spinrt",
    version,
    about = "Run Spin apps on wasmtime, locally or under containerd"
)]
enum Cli {
    // Boxed: its many options would make every other command as large.
    Up(Box<commands::up::UpCommand>),
    Pack(commands::pack::PackCommand),
    Push(commands::push::PushCommand),
    Install(install::InstallCommand),
    Uninstall(install::UninstallCommand),
}

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match Cli::parse() {
        Cli::Up(cmd) => cmd.run(),
        Cli::Pack(cmd) => cmd.run(),
        Cli::Push(cmd) => cmd.run(),
        Cli::Install(cmd) => cmd.run(),
        Cli::Uninstall(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A user's error is its reason and what led to it, never a stack trace: returning the
        // error from main would print anyhow's backtrace whenever RUST_BACKTRACE is set.
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
