//! The `livepatch` command: drives a running program's patches through its control socket.
//!
//! Exit codes: 0 when the request succeeded, 1 when the program refused it (the reply says why)
//! or, for `info FILE`, when the file is not a patch library that can be read, 2 for a usage
//! error, 3 when the control socket cannot be reached or answers nonsense.

mod args;
mod client;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    let reply = match &args.command {
        args::Command::Info { target } if args::is_file(target) => info_of_file(target),
        command => match client::request(&args.socket_path(), &command.request()) {
            Ok(reply) => reply,
            Err(problem) => {
                eprintln!("livepatch: {problem}");
                return ExitCode::from(3);
            }
        },
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

/// `info FILE`: the library's manifest, read without loading it, as a reply of the program's
/// would give it.
fn info_of_file(path: &str) -> livepatch_control::Reply {
    use livepatch_control::Reply;
    match livepatch_loader::read_manifest(path) {
        Ok(manifest) => Reply::success(livepatch_control::PatchInfo::from(&manifest), Vec::new()),
        Err(refusal) => Reply::failure("load", refusal, Vec::new()),
    }
}
