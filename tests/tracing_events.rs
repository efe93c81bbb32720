//! The runtime's events as the `tracing` ecosystem sees them: besides the kernel's text, each
//! carries what it is about as fields (`patch`, `object`, `direction`, `error`); each operation of
//! the API and each transition is a span; and `Dmesg` is a layer that composes with others and
//! still prints the kernel's text alone.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use livepatch::prelude::*;
use livepatch::{CallbackError, Dmesg, ObjectDesc, PatchDesc};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Each runtime event as `message {fields} in [spans from the root]`, each span as
/// `name{fields}`.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<HashMap<Id, String>>>,
    events: Arc<Mutex<Vec<String>>>,
}

/// Fields as `name=value`, apart from the message, which is kept on its own.
#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push(format!("{}={value}", field.name()));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let text = format!("{}{{{}}}", attrs.metadata().name(), fields.fields.join(" "));
        self.spans.lock().unwrap().insert(id.clone(), text);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != livepatch::TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = self.spans.lock().unwrap();
        let scope: Vec<&str> = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| spans[&span.id()].as_str())
                    .collect()
            })
            .unwrap_or_default();
        self.events.lock().unwrap().push(format!(
            "{} {{{}}} in [{}]",
            fields.message,
            fields.fields.join(" "),
            scope.join(", ")
        ));
    }
}

fn out_of_memory(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    Err(CallbackError::new("cannot allocate 4096 bytes"))
}

static PLAIN_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()];
static PLAIN: PatchDesc = PatchDesc::new("plain").objects(&PLAIN_OBJECTS);
static FAILING_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(out_of_memory)];
static FAILING: PatchDesc = PatchDesc::new("failing").objects(&FAILING_OBJECTS);

#[test]
fn events_carry_fields_and_sit_in_the_spans_of_their_operation_and_transition() {
    let (recorder, log) = (Recorder::default(), Dmesg::new());
    let subscriber = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(log.layer());
    let rt = Runtime::new();
    tracing::subscriber::with_default(subscriber, || {
        rt.enable(&PLAIN).unwrap();
        rt.disable("plain").unwrap();
        rt.enable(&FAILING).unwrap_err();
    });

    let patching = "transition{patch=plain direction=patching}";
    let unpatching = "transition{patch=plain direction=unpatching}";
    let cancelled = "transition{patch=failing direction=patching}";
    assert_eq!(
        *recorder.events.lock().unwrap(),
        [
            "enabling patch 'plain' {patch=plain} in [enable{patch=plain}]".to_owned(),
            format!(
                "'plain': initializing patching transition {{patch=plain direction=patching}} \
                 in [{patching}]"
            ),
            format!(
                "'plain': starting patching transition {{patch=plain direction=patching}} in \
                 [{patching}]"
            ),
            format!(
                "'plain': completing patching transition {{patch=plain direction=patching}} in \
                 [{patching}]"
            ),
            format!(
                "'plain': patching complete {{patch=plain direction=patching}} in [{patching}]"
            ),
            format!(
                "'plain': initializing unpatching transition {{patch=plain \
                 direction=unpatching}} in [{unpatching}]"
            ),
            format!(
                "'plain': starting unpatching transition {{patch=plain direction=unpatching}} \
                 in [{unpatching}]"
            ),
            format!(
                "'plain': completing unpatching transition {{patch=plain \
                 direction=unpatching}} in [{unpatching}]"
            ),
            format!(
                "'plain': unpatching complete {{patch=plain direction=unpatching}} in \
                 [{unpatching}]"
            ),
            "enabling patch 'failing' {patch=failing} in [enable{patch=failing}]".to_owned(),
            format!(
                "'failing': initializing patching transition {{patch=failing \
                 direction=patching}} in [{cancelled}]"
            ),
            // The warning carries the callback's error.
            "pre-patch callback failed for object 'vmlinux' {patch=failing object=vmlinux \
             error=cannot allocate 4096 bytes} in [enable{patch=failing}]"
                .to_owned(),
            "failed to enable patch 'failing' {patch=failing} in [enable{patch=failing}]"
                .to_owned(),
            format!(
                "'failing': canceling patching transition, going to unpatch {{patch=failing \
                 direction=unpatching}} in [{cancelled}]"
            ),
            format!(
                "'failing': completing unpatching transition {{patch=failing \
                 direction=unpatching}} in [{cancelled}]"
            ),
            format!(
                "'failing': unpatching complete {{patch=failing direction=unpatching}} in \
                 [{cancelled}]"
            ),
        ]
    );
    // Composed with the recorder, `Dmesg` prints the kernel's text, without the fields.
    assert_eq!(
        log.lines(),
        [
            "livepatch: enabling patch 'plain'",
            "livepatch: 'plain': initializing patching transition",
            "livepatch: 'plain': starting patching transition",
            "livepatch: 'plain': completing patching transition",
            "livepatch: 'plain': patching complete",
            "livepatch: 'plain': initializing unpatching transition",
            "livepatch: 'plain': starting unpatching transition",
            "livepatch: 'plain': completing unpatching transition",
            "livepatch: 'plain': unpatching complete",
            "livepatch: enabling patch 'failing'",
            "livepatch: 'failing': initializing patching transition",
            "livepatch: pre-patch callback failed for object 'vmlinux'",
            "livepatch: failed to enable patch 'failing'",
            "livepatch: 'failing': canceling patching transition, going to unpatch",
            "livepatch: 'failing': completing unpatching transition",
            "livepatch: 'failing': unpatching complete",
        ]
    );
}

#[test]
fn dmesg_keeps_the_fields_of_events_other_than_the_runtimes() {
    let log = Dmesg::new();
    log.capture(|| tracing::info!(target: "app", patch = "mine", "rate set"));
    assert_eq!(log.lines(), ["app: rate set patch=\"mine\""]);
}
