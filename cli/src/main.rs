//! The `livepatch` command: drives a running program's patches through its control socket.
//!
//! Exit codes: 0 when the request succeeded, 1 when the program refused it (the reply says why),
//! 2 for a usage error, 3 when the control socket cannot be reached or answers nonsense.

mod args;
mod client;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    let request = args.command.request();
    let reply = match client::request(&args.socket_path(), &request) {
        Ok(reply) => reply,
        Err(problem) => {
            eprintln!("livepatch: {problem}");
            return ExitCode::from(3);
        }
    };
    let text = match args.json {
        true => render::json(&reply),
        false => render::human(&args.command, &reply),
    };
    print!("{text}");
    match reply.ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}
