//! The demo service: an HTTP quote service. All of its code is in this library, so that patch
//! libraries can replace its functions by path.
//!
//! `GET /quote?amount=N` answers `{"amount":N,"fee":F}`, the card fee on an amount in cents. The
//! fee should be 2.9% plus 30 cents; the shipped code charges 29%.

livepatch::program!();

pub mod http;
pub mod pricing;

use std::io::Read;
use std::path::PathBuf;

use livepatch::Runtime;
use livepatch::control::ControlServer;

/// Serves quotes on a loopback port and patches on a control socket until standard input closes.
///
/// Prints `listening ADDR` and `control PATH` on standard output once both are up. The socket is
/// `--socket PATH`, or the default for the program `shop`.
pub fn main() {
    let socket = match socket_from_args(std::env::args().skip(1)) {
        Ok(socket) => socket,
        Err(message) => {
            eprintln!("shop: {message}");
            std::process::exit(2);
        }
    };
    let control = match ControlServer::new(Runtime::global())
        .program(&LIVEPATCH_PROGRAM)
        .start(&socket)
    {
        Ok(control) => control,
        Err(error) => {
            eprintln!(
                "shop: cannot serve the control socket at {}: {error}",
                socket.display()
            );
            std::process::exit(1);
        }
    };
    let listener = match http::Listener::bind() {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("shop: cannot listen on loopback: {error}");
            std::process::exit(1);
        }
    };
    println!("listening {}", listener.address());
    println!("control {}", control.path().display());

    // Whoever started the service stops it by closing its standard input.
    std::thread::spawn(|| {
        let _ = std::io::stdin().lock().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    if let Err(error) = listener.serve() {
        eprintln!("shop: {error}");
        std::process::exit(1);
    }
}

/// The control socket's path from the arguments: `--socket PATH`, or the default.
fn socket_from_args(mut args: impl Iterator<Item = String>) -> Result<PathBuf, String> {
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, ..) => Ok(livepatch::control::default_socket_path("shop")),
        (Some("--socket"), Some(path), None) => Ok(PathBuf::from(path)),
        _ => Err("usage: shop [--socket PATH]".to_owned()),
    }
}
