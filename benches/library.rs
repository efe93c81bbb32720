//! Patch libraries, in one run of a release build of the test's program (two worker threads
//! calling the patched function): the time from opening a library to a completed transition,
//! against enabling the same fix compiled into the program; and a call patched by the library's
//! patch against a function-pointer call, timed in alternating pairs.

#[path = "../tests/patch_library/workspace.rs"]
mod workspace;

use workspace::{FEE_LINE, Running, Workspace};

fn main() {
    let program = Workspace::program_release();
    program.write_program(FEE_LINE);
    program.build("program");
    let mut running = Running::start(&program);
    program.build("fix_fee_v1");
    let library = program.artifact("libfix_fee_v1.so");
    println!("{}", running.ask(&format!("bench {}", library.display())));
    running.quit();
}
