//! The load generator: keep-alive HTTP/1.1 connections over loopback, each asking for quotes at
//! a steady pace until told to stop, recording every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fees::AMOUNTS;

/// How many connections ask at once.
pub const CONNECTIONS: usize = 4;
/// The pause each connection keeps between its requests' starts.
const PACE: Duration = Duration::from_micros(500);
/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One request, as the client saw it.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was sent and when its answer was read, from the generator's start.
    pub sent: Duration,
    pub answered: Duration,
    pub amount: u64,
    /// The fee answered, or why there was none.
    pub outcome: Result<u64, String>,
}

/// The running generator.
pub struct Load {
    stop: Arc<AtomicBool>,
    connections: Vec<JoinHandle<Vec<Sample>>>,
    pub started: Instant,
}

impl Load {
    /// Starts the connections against `address`; each stops by itself after `limit`, whatever
    /// happens to the demo.
    pub fn start(address: SocketAddr, limit: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let connections = (0..CONNECTIONS)
            .map(|index| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || ask(address, index, started, limit, &stop))
            })
            .collect();
        Load {
            stop,
            connections,
            started,
        }
    }

    /// Now, on the generator's clock.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops every connection and returns all of their requests, in order of sending, with the
    /// time when the last one had stopped.
    pub fn finish(self) -> (Vec<Sample>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples: Vec<Sample> = self
            .connections
            .into_iter()
            .flat_map(|connection| connection.join().unwrap_or_default())
            .collect();
        samples.sort_by_key(|sample| sample.sent);
        (samples, self.started.elapsed())
    }
}

/// One connection's loop: a request at a time, reconnecting after a failure.
fn ask(
    address: SocketAddr,
    index: usize,
    started: Instant,
    limit: Duration,
    stop: &AtomicBool,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut connection: Option<Connection> = None;
    let mut next = Instant::now();
    let mut turn = index;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
        let amount = AMOUNTS[turn % AMOUNTS.len()];
        turn += 1;
        let sent = started.elapsed();
        let outcome = match connection.as_mut() {
            Some(open) => open.quote(amount),
            None => Connection::open(address).and_then(|open| {
                let open = connection.insert(open);
                open.quote(amount)
            }),
        };
        if outcome.is_err() {
            connection = None;
        }
        samples.push(Sample {
            sent,
            answered: started.elapsed(),
            amount,
            outcome,
        });
        next += PACE;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Behind: start again from now rather than rush to catch up.
            next = now;
        }
    }
    samples
}

/// One `GET target` on a connection of its own: the status and body answered.
pub fn get(address: SocketAddr, target: &str) -> Result<(u16, String), String> {
    Connection::open(address)?.get(target)
}

/// A keep-alive connection to the shop.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(address: SocketAddr) -> Result<Connection, String> {
        let stream = TcpStream::connect_timeout(&address, REQUEST_TIMEOUT)
            .map_err(|error| format!("connect: {error}"))?;
        stream
            .set_nodelay(true)
            .map_err(|error| error.to_string())?;
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .map_err(|error| error.to_string())?;
        let writer = stream.try_clone().map_err(|error| error.to_string())?;
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Asks for the fee on `amount`, and reads it from the answer.
    fn quote(&mut self, amount: u64) -> Result<u64, String> {
        let (status, body) = self.get(&format!("/quote?amount={amount}"))?;
        if status != 200 {
            return Err(format!("status {status}: {body}"));
        }
        fee_from(&body, amount).ok_or_else(|| format!("unexpected body {body:?}"))
    }

    /// Sends `GET target` and reads the response's status and body.
    fn get(&mut self, target: &str) -> Result<(u16, String), String> {
        write!(self.writer, "GET {target} HTTP/1.1\r\nHost: shop\r\n\r\n")
            .map_err(|error| format!("send: {error}"))?;
        self.response()
    }

    /// The status and body of one response.
    fn response(&mut self) -> Result<(u16, String), String> {
        let mut line = String::new();
        let read = |reader: &mut BufReader<TcpStream>, line: &mut String| {
            line.clear();
            match reader.read_line(line) {
                Ok(0) => Err("the connection closed".to_owned()),
                Ok(_) => Ok(()),
                Err(error) => Err(format!("receive: {error}")),
            }
        };
        read(&mut self.reader, &mut line)?;
        let status = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP/1.1 status line: {line:?}"))?;
        let mut length = None;
        loop {
            read(&mut self.reader, &mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or("an answer without a content-length")?;
        let mut body = vec![0; length];
        self.reader
            .read_exact(&mut body)
            .map_err(|error| format!("receive: {error}"))?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The fee in a body `{"amount":N,"fee":F}` for the amount asked.
fn fee_from(body: &str, amount: u64) -> Option<u64> {
    let rest = body.strip_prefix(&format!("{{\"amount\":{amount},\"fee\":"))?;
    rest.strip_suffix('}')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::fee_from;

    #[test]
    fn the_fee_is_read_from_the_answer_for_the_amount_asked() {
        assert_eq!(fee_from("{\"amount\":1000,\"fee\":59}", 1000), Some(59));
        assert_eq!(fee_from("{\"amount\":1000,\"fee\":59}", 100), None);
        assert_eq!(fee_from("{\"amount\":1000,\"fee\":}", 1000), None);
        assert_eq!(fee_from("{\"amount\":1000,\"fee\":59", 1000), None);
    }
}
