//! A kernel-log view of `tracing` events: each event becomes one line `target: message`, as the
//! kernel prints `livepatch: enabling patch 'p'`. Used to show a trace to a person and to compare
//! traces in tests; a `tracing-subscriber` layer, so that it composes with `fmt` and others.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::messages::TARGET;

/// A log of `target: message` lines, filled by the subscriber it hands out.
///
/// ```
/// use livepatch::Dmesg;
/// use livepatch::prelude::*;
///
/// #[livepatch]
/// pub mod fix {}
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let runtime = Runtime::new();
///     let log = Dmesg::new();
///     log.capture(|| runtime.enable(&fix::PATCH))?;
///     assert_eq!(
///         log.lines(),
///         [
///             "livepatch: enabling patch 'fix'",
///             "livepatch: 'fix': initializing patching transition",
///             "livepatch: 'fix': starting patching transition",
///             "livepatch: 'fix': completing patching transition",
///             "livepatch: 'fix': patching complete",
///         ]
///     );
///     Ok(())
/// }
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
    /// use livepatch::Dmesg;
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

    /// A layer that logs every event it is given into this log, to compose with others.
    ///
    /// ```
    /// use livepatch::Dmesg;
    /// use tracing_subscriber::filter::LevelFilter;
    /// use tracing_subscriber::layer::{Layer, SubscriberExt};
    ///
    /// let (all, warnings) = (Dmesg::new(), Dmesg::new());
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(all.layer())
    ///     .with(warnings.layer().with_filter(LevelFilter::WARN));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     tracing::info!(target: "livepatch", "enabling patch 'p'");
    ///     tracing::warn!(target: "livepatch", "failed to enable patch 'p'");
    /// });
    /// assert_eq!(all.lines().len(), 2);
    /// assert_eq!(warnings.lines(), ["livepatch: failed to enable patch 'p'"]);
    /// ```
    pub fn layer(&self) -> DmesgLayer {
        DmesgLayer { log: self.clone() }
    }

    /// A subscriber that logs every event, of every level, into this log: a registry with
    /// [`Dmesg::layer`] alone.
    pub fn subscriber(&self) -> impl Subscriber + Send + Sync + 'static {
        tracing_subscriber::registry().with(self.layer())
    }

    /// Runs `f` with this log as the current thread's subscriber.
    pub fn capture<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::subscriber::with_default(self.subscriber(), f)
    }
}

/// The [`tracing_subscriber::Layer`] of a [`Dmesg`]: each event becomes one line of it.
///
/// The runtime's own events (target [`TARGET`]) carry structured fields (`patch`, `object`,
/// `direction`, `error`) that repeat what their message says; their lines show the message alone,
/// word for word as the kernel prints it. Other events' fields follow their message as
/// `name=value`.
#[derive(Clone, Debug)]
pub struct DmesgLayer {
    log: Dmesg,
}

impl<S: Subscriber> Layer<S> for DmesgLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut text = LineText {
            line: String::new(),
            message_only: metadata.target() == TARGET,
        };
        event.record(&mut text);
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
            .push(format!("{level}{}: {}", metadata.target(), text.line));
    }
}

/// The event's message, followed by its other fields as `name=value` unless `message_only`.
struct LineText {
    line: String,
    message_only: bool,
}

impl LineText {
    fn separator(&self) -> &'static str {
        if self.line.is_empty() { "" } else { " " }
    }
}

impl Visit for LineText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let sep = self.separator();
        if field.name() == "message" {
            let _ = write!(self.line, "{sep}{value:?}");
        } else if !self.message_only {
            let _ = write!(self.line, "{sep}{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.line, "{}{value}", self.separator());
        } else {
            self.record_debug(field, &value);
        }
    }
}
