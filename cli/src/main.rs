//! The `livepatch` command: drives a running program's patches through its control socket.
//!
//! Exit codes: 0 when the request succeeded, 1 when the program refused it (the reply says why)
//! or, for `info FILE`, when the file is not a patch library that can be read, 2 for a usage
//! error, 3 when the control socket cannot be reached or answers nonsense.

mod args;
mod render;
mod wait;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    let reply = match &args.command {
        args::Command::Info { target } if args::is_file(target) => info_of_file(target),
        // Refused here, with the flag that confirms it, rather than by the program.
        args::Command::Force { yes_i_know: false } => livepatch_control::Reply::failure(
            "not_confirmed",
            "forcing a transition may let threads mix old and new code; run `livepatch force \
             --yes-i-know` if the threads that block it are known not to",
            Vec::new(),
        ),
        command => match livepatch_control::request(&args.socket_path(), &command.request()) {
            Ok(reply) => reply,
            Err(problem) => {
                eprintln!("livepatch: {problem}");
                return ExitCode::from(3);
            }
        },
    };
    let mut reply = reply;
    if let (
        args::Command::Load {
            no_enable: false, ..
        },
        true,
    ) = (&args.command, reply.ok)
    {
        let patch = reply.result.as_ref().and_then(|r| r.as_str()).unwrap_or("");
        // Progress goes to stderr, and not at all for scripts, which read the reply.
        let mut quiet = std::io::sink();
        let mut stderr = std::io::stderr();
        let progress: &mut dyn std::io::Write = match args.json {
            true => &mut quiet,
            false => &mut stderr,
        };
        let every = std::time::Duration::from_secs(1);
        match wait::transition(&args.socket_path(), patch, every, progress) {
            Ok(log) => reply.log.extend(log),
            Err(problem) => {
                eprintln!("livepatch: '{patch}' is loaded and enabled, but {problem}");
                return ExitCode::from(3);
            }
        }
    }
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
