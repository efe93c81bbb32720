//! What the command prints: a reply as people read it, or as JSON.

use livepatch_control::protocol::{PlanView, TransitionView, WaitingThread};
use livepatch_control::{PatchInfo, PatchView, Reply};

use crate::args::Command;

/// The reply as JSON, one object, for scripts.
pub(crate) fn json(reply: &Reply) -> String {
    let mut text = serde_json::to_string_pretty(reply).unwrap_or_default();
    text.push('\n');
    text
}

/// The reply for people: the runtime's log lines, then the answer.
pub(crate) fn human(command: &Command, reply: &Reply) -> String {
    let mut out: String = reply.log.iter().map(|l| format!("{l}\n")).collect();
    if let Some(error) = &reply.error {
        out += &format!("error ({}): {}\n", error.kind, error.message);
        return out;
    }
    let result = reply.result.clone().unwrap_or(serde_json::Value::Null);
    let decode = |what: &str| format!("the program's reply does not read as {what}\n");
    out += &match command {
        Command::List | Command::Force { .. } => {
            match serde_json::from_value::<Vec<PatchView>>(result) {
                Ok(patches) => list(&patches),
                Err(_) => decode("a patch list"),
            }
        }
        Command::Load { no_enable, .. } => {
            let name = result.as_str().unwrap_or("?");
            match no_enable {
                true => format!("loaded '{name}'; enable it with `livepatch enable {name}`\n"),
                false => format!("loaded and enabled '{name}', and its transition is over\n"),
            }
        }
        Command::Enable { .. } => format!("enabled '{}'\n", result.as_str().unwrap_or("?")),
        Command::Disable { .. } => format!("disabled '{}'\n", result.as_str().unwrap_or("?")),
        Command::Transition { .. } => match serde_json::from_value(result) {
            Ok(transition) => self::transition(transition),
            Err(_) => decode("a transition"),
        },
        Command::Info { .. } => match serde_json::from_value(result) {
            Ok(info) => self::info(&info),
            Err(_) => decode("a patch's contents"),
        },
        Command::Plan { .. } => match serde_json::from_value(result) {
            Ok(plan) => self::plan(&plan),
            Err(_) => decode("a plan"),
        },
    };
    out
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Rows of cells as columns, each as wide as its widest cell, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:width$}"))
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

fn list(patches: &[PatchView]) -> String {
    if patches.is_empty() {
        return "no patches\n".to_owned();
    }
    let header = [
        "NAME",
        "ENABLED",
        "TRANSITION",
        "REPLACE",
        "ORDER",
        "OBJECTS",
        "STATES",
    ];
    let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    for p in patches {
        let objects: Vec<String> = p
            .objects
            .iter()
            .map(|o| {
                format!(
                    "{}{}",
                    o.name,
                    if o.patched { "" } else { " (not patched)" }
                )
            })
            .collect();
        let states: Vec<String> = p
            .states
            .iter()
            .map(|s| format!("{} v{}", s.id, s.version))
            .collect();
        rows.push(vec![
            p.name.clone(),
            yes(p.enabled).to_owned(),
            yes(p.transition).to_owned(),
            yes(p.replace).to_owned(),
            p.stack_order.to_string(),
            or_dash(objects.join(", ")),
            or_dash(states.join(", ")),
        ]);
    }
    table(&rows)
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

/// Each line of `text` indented by two spaces.
fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn info(info: &PatchInfo) -> String {
    let mut out = format!(
        "patch '{}', {}\n",
        info.name,
        match info.replace {
            true => "cumulative (replace)",
            false => "not cumulative",
        }
    );
    if info.states.is_empty() {
        out += "states: none\n";
    } else {
        let from_file = info.states.iter().any(|s| s.handle.is_some());
        let mut header = vec!["ID", "VERSION", "DATA"];
        if from_file {
            header.push("HANDLE");
        }
        let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
        for s in &info.states {
            let mut row = vec![s.id.to_string(), s.version.to_string(), s.data.clone()];
            if from_file {
                row.push(s.handle.clone().unwrap_or_default());
            }
            rows.push(row);
        }
        out += "states:\n";
        out += &indent(&table(&rows));
    }
    let header = ["OBJECT", "CALLBACKS", "FUNCTIONS"];
    let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    for o in &info.objects {
        let callbacks: Vec<String> = o
            .callbacks
            .iter()
            .map(|c| match &c.function {
                Some(function) => format!("{} ({function})", c.kind),
                None => c.kind.clone(),
            })
            .collect();
        let functions: Vec<String> = o
            .functions
            .iter()
            .map(|f| match &f.replacement {
                Some(replacement) => format!("{} (by {replacement})", f.name),
                None => f.name.clone(),
            })
            .collect();
        rows.push(vec![
            o.name.clone(),
            or_dash(callbacks.join(", ")),
            or_dash(functions.join(", ")),
        ]);
    }
    out += "objects, in the order their callbacks run:\n";
    out += &indent(&table(&rows));
    if let Some(b) = &info.built {
        out += &format!(
            "built with livepatch {} against program '{}', build {}:\n",
            b.livepatch, b.program, b.program_build
        );
        out += &indent(&table(&[
            vec!["rustc".to_owned(), b.rustc.clone()],
            vec!["target".to_owned(), b.target.clone()],
            vec!["profile".to_owned(), b.profile.clone()],
            vec!["codegen".to_owned(), b.codegen.clone()],
        ]));
    }
    out
}

fn transition(transition: Option<TransitionView>) -> String {
    let Some(t) = transition else {
        return "no transition in progress\n".to_owned();
    };
    let mut out = format!("'{}' is {}\n", t.patch, t.target);
    if t.waiting_threads.is_empty() {
        out += "every thread has switched\n";
        return out;
    }
    let mut rows = vec![vec!["THREAD".to_owned(), "INSIDE".to_owned()]];
    for w in &t.waiting_threads {
        rows.push(vec![w.thread.clone(), inside(w)]);
    }
    out += "threads not switched yet, and the patched functions each one is inside:\n";
    out += &indent(&table(&rows));
    out
}

/// The functions a thread is inside, outermost first, or `-`.
fn inside(thread: &WaitingThread) -> String {
    or_dash(thread.inside.join(" > "))
}

/// The most threads a line of progress names.
const NAMED_THREADS: usize = 4;

/// One line of progress while `t` goes on.
pub(crate) fn progress(t: &TransitionView) -> String {
    let count = t.waiting_threads.len();
    let mut line = format!(
        "'{}' is {}: {count} thread{} not switched yet",
        t.patch,
        t.target,
        if count == 1 { "" } else { "s" }
    );
    let named: Vec<String> = t
        .waiting_threads
        .iter()
        .take(NAMED_THREADS)
        .map(|w| match w.inside.is_empty() {
            true => w.thread.clone(),
            false => format!("{} (inside {})", w.thread, inside(w)),
        })
        .collect();
    if !named.is_empty() {
        line += ": ";
        line += &named.join(", ");
    }
    if count > NAMED_THREADS {
        line += &format!(" and {} more", count - NAMED_THREADS);
    }
    line.push('\n');
    line
}

fn plan(plan: &PlanView) -> String {
    let mut out = format!("plan for enabling '{}'\n", plan.patch);
    match &plan.refusal {
        Some(refusal) => out += &format!("verdict: refused: {refusal}\n"),
        None => out += "verdict: would be enabled\n",
    }
    let section = |title: &str, lines: Vec<String>| match lines.is_empty() {
        true => format!("{title}: none\n"),
        false => format!(
            "{title}:\n{}",
            lines.iter().map(|l| format!("  {l}\n")).collect::<String>()
        ),
    };
    let states = plan
        .states
        .iter()
        .map(|s| {
            let version = s
                .version
                .map_or("not declared".to_owned(), |v| format!("v{v}"));
            let installed = s.installed.as_ref().map_or(String::new(), |(p, v)| {
                format!(", installed by '{p}' at v{v}")
            });
            format!("state {} {version}{installed}: {}", s.id, s.verdict)
        })
        .collect();
    out += &section("states", states);
    out += &section("callbacks, in order", plan.callbacks.clone());
    let functions = plan
        .functions
        .iter()
        .map(|f| format!("{}: {}: {}", f.object, f.name, f.change))
        .collect();
    out += &section("functions", functions);
    out += &section(
        "removes",
        plan.removes.iter().map(|p| format!("'{p}'")).collect(),
    );
    if let Some(path) = &plan.loaded_from {
        out += &format!(
            "the library {} is loaded, not enabled: `livepatch enable {}` enables it\n",
            path.display(),
            plan.patch
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use livepatch_control::protocol::{PlanView, PlannedFunctionView, PlannedStateView};

    #[test]
    fn a_plan_of_a_file_says_each_part_and_that_the_library_stays_loaded() {
        let plan = PlanView {
            patch: "fix_fee_v3".into(),
            refusal: Some("state 1 is at version 2 in 'fix_fee_v2'".into()),
            states: vec![
                PlannedStateView {
                    id: 1,
                    version: Some(1),
                    installed: Some(("fix_fee_v2".into(), 2)),
                    verdict: "incompatible: version lowered to 1".into(),
                },
                PlannedStateView {
                    id: 5,
                    version: None,
                    installed: Some(("audit".into(), 1)),
                    verdict: "compatible".into(),
                },
            ],
            callbacks: vec!["vmlinux: pre_patch".into(), "net: post_patch".into()],
            functions: vec![PlannedFunctionView {
                object: "vmlinux".into(),
                name: "app::billing::fee".into(),
                change: "re-patched (now: fix_fee_v2)".into(),
            }],
            removes: vec!["fix_fee_v2".into(), "audit".into()],
            loaded_from: Some("/srv/patches/libfix_fee_v3.so".into()),
        };
        assert_eq!(
            super::plan(&plan),
            "plan for enabling 'fix_fee_v3'\n\
             verdict: refused: state 1 is at version 2 in 'fix_fee_v2'\n\
             states:\n\
             \x20 state 1 v1, installed by 'fix_fee_v2' at v2: incompatible: version lowered to 1\n\
             \x20 state 5 not declared, installed by 'audit' at v1: compatible\n\
             callbacks, in order:\n\
             \x20 vmlinux: pre_patch\n\
             \x20 net: post_patch\n\
             functions:\n\
             \x20 vmlinux: app::billing::fee: re-patched (now: fix_fee_v2)\n\
             removes:\n\
             \x20 'fix_fee_v2'\n\
             \x20 'audit'\n\
             the library /srv/patches/libfix_fee_v3.so is loaded, not enabled: `livepatch enable \
             fix_fee_v3` enables it\n"
        );
    }
}
