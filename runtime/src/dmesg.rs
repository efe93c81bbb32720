//! A kernel-log view of `tracing` events: each event becomes one line `target: message`, as the
//! kernel prints `livepatch: enabling patch 'p'`; an event's other fields are left out. Used to show a trace to a person and to compare
//! traces in tests.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A log of `target: message` lines, filled by the subscriber it hands out.
///
/// ```
/// use livepatch_runtime::Dmesg;
///
/// let log = Dmesg::new();
/// log.capture(|| tracing::info!(target: "livepatch", "enabling patch 'p'"));
/// assert_eq!(log.lines(), ["livepatch: enabling patch 'p'"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Dmesg {
    lines: Arc<Mutex<Vec<String>>>,
    echo: bool,
    levels: bool,
}

impl Dmesg {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also prints each line to standard output as it is logged.
    pub fn echo(mut self) -> Self {
        self.echo = true;
        self
    }

    /// Starts each event's line with its level as the kernel's raw log does (`dmesg -r`): `<3>`
    /// error, `<4>` warn, `<6>` info, `<7>` debug and trace.
    ///
    /// ```
    /// use livepatch_runtime::Dmesg;
    ///
    /// let log = Dmesg::new().levels();
    /// log.capture(|| tracing::warn!(target: "livepatch", "failed to enable patch 'p'"));
    /// assert_eq!(log.lines(), ["<4>livepatch: failed to enable patch 'p'"]);
    /// ```
    pub fn levels(mut self) -> Self {
        self.levels = true;
        self
    }

    /// Appends a line of the caller's own (a command being run, say).
    pub fn push(&self, line: impl Into<String>) {
        let line = line.into();
        if self.echo {
            // A closed standard output (`| head`) is not worth a panic.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    /// The lines logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The lines logged so far, leaving the log empty.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A subscriber that logs every event, of every level, into this log.
    pub fn subscriber(&self) -> impl Subscriber + Send + Sync + 'static {
        tracing_subscriber::registry().with(self.layer())
    }

    /// A `tracing-subscriber` layer that logs every event it sees into this log, to compose with
    /// `fmt`, filters and other layers.
    ///
    /// ```
    /// use livepatch_runtime::Dmesg;
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let log = Dmesg::new();
    /// let other = Dmesg::new().levels();
    /// let subscriber = tracing_subscriber::registry().with(log.layer()).with(other.layer());
    /// tracing::subscriber::with_default(subscriber, || {
    ///     tracing::info!(target: "livepatch", "enabling patch 'p'")
    /// });
    /// assert_eq!(log.lines(), ["livepatch: enabling patch 'p'"]);
    /// assert_eq!(other.lines(), ["<6>livepatch: enabling patch 'p'"]);
    /// ```
    pub fn layer<S: Subscriber>(&self) -> impl Layer<S> + Send + Sync + 'static {
        DmesgLayer { log: self.clone() }
    }

    /// Runs `f` with this log as the current thread's subscriber.
    pub fn capture<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::subscriber::with_default(self.subscriber(), f)
    }
}

struct DmesgLayer {
    log: Dmesg,
}

impl<S: Subscriber> Layer<S> for DmesgLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = LineText::default();
        event.record(&mut text);
        let metadata = event.metadata();
        let level = if self.log.levels {
            match *metadata.level() {
                tracing::Level::ERROR => "<3>",
                tracing::Level::WARN => "<4>",
                tracing::Level::INFO => "<6>",
                _ => "<7>",
            }
        } else {
            ""
        };
        self.log
            .push(format!("{level}{}: {}", metadata.target(), text.0));
    }
}

/// The event's message: the kernel's text. Structured fields are for other layers (see
/// `messages`), as the kernel's log carries only the text.
#[derive(Default)]
struct LineText(String);

impl Visit for LineText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
}
