//! The HTTP side: hyper's HTTP/1.1 server on a tokio runtime of two worker threads.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The largest amount quoted, in cents: every fee on it fits a `u64` many times over.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// The service's listening socket, bound on loopback, with the runtime that serves it.
pub struct Listener {
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
}

impl Listener {
    /// Binds a free port on 127.0.0.1.
    pub fn bind() -> std::io::Result<Listener> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shop-worker")
            .enable_io()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        Ok(Listener { runtime, listener })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves connections until accepting fails.
    pub fn serve(self) -> std::io::Result<()> {
        let Listener { runtime, listener } = self;
        runtime.block_on(async move {
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(async move {
                    // A connection that breaks off ends here; the service goes on.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
        })
    }
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = route(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a status and one valid header make a valid response");
    Ok(response)
}

/// The status and JSON body for a request.
pub fn route(method: &Method, path: &str, query: Option<&str>) -> (StatusCode, String) {
    match (method, path) {
        (&Method::GET, "/quote") => match amount(query) {
            Some(amount) => (
                StatusCode::OK,
                format!(
                    "{{\"amount\":{amount},\"fee\":{}}}",
                    crate::pricing::fee(amount)
                ),
            ),
            None => (
                StatusCode::BAD_REQUEST,
                format!(
                    "{{\"error\":\"give the amount in cents, 0 to {MAX_AMOUNT}: /quote?amount=1000\"}}"
                ),
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "{\"error\":\"the only resource is GET /quote?amount=CENTS\"}".to_owned(),
        ),
    }
}

/// The `amount` parameter of a query, when it is a whole number of cents in range.
fn amount(query: Option<&str>) -> Option<u64> {
    let value = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("amount="))?;
    value.parse().ok().filter(|amount| *amount <= MAX_AMOUNT)
}
