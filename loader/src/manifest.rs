//! A patch library's manifest: what it was built with and against, as lines of text in an ELF
//! section of its own, readable without running the library.
//!
//! ```text
//! livepatch-manifest 2
//! livepatch 0.1.0
//! rustc rustc 1.95.0 (59807616e 2026-04-14)
//! target x86_64-unknown-linux-gnu
//! profile debug opt-level=0 debuginfo=2 debug-assertions=on panic=unwind
//! codegen -C prefer-dynamic
//! program app 6f1d0c2e9a8b47d3b1f05e6c2a9d8e71
//! patch fix_fee
//! replace false
//! state 1 1 FEE_RATE FeeRate
//! object vmlinux
//! callback post_patch apply
//! function fee app::fees::fee
//! ```
//!
//! Each line is a key, a space and a value; the text ends at the first NUL byte (the section has
//! a fixed size, so that it can be written at compile time). A `state` line gives the state's id,
//! version, handle and data type as the patch writes it; each `object` line is followed by its
//! callbacks (kind and function) and its replaced functions (the replacement, then the target as
//! the patch names it), so that `livepatch info` can tell what a library holds without opening
//! it.

use crate::build::{BuildConfig, BuildSetting};

/// The name of the ELF section that holds the manifest.
pub const MANIFEST_SECTION: &str = ".livepatch.manifest";

/// The size of the manifest section, in bytes.
pub const MANIFEST_CAPACITY: usize = 4096;

/// The manifest format this crate writes and reads.
pub const MANIFEST_FORMAT: u32 = 2;

/// The first word of every manifest.
const MAGIC: &str = "livepatch-manifest";

/// This crate's version, which a patch library must share.
const LIVEPATCH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A manifest as the section holds it.
#[repr(transparent)]
#[derive(Debug)]
pub struct ManifestBytes(pub [u8; MANIFEST_CAPACITY]);

/// Writes a manifest at compile time. `livepatch::patch_library!` uses it.
#[doc(hidden)]
pub struct ManifestWriter {
    buf: [u8; MANIFEST_CAPACITY],
    len: usize,
}

impl ManifestWriter {
    /// A manifest of the patch `patch` (cumulative or not) built against `program`, with this
    /// crate's build settings.
    pub const fn new(program: &crate::Program, patch: &str, replace: bool) -> ManifestWriter {
        let mut writer = ManifestWriter {
            buf: [0; MANIFEST_CAPACITY],
            len: 0,
        };
        writer.push(MAGIC);
        writer.push(" ");
        writer.push_u64(MANIFEST_FORMAT as u64);
        writer.line("livepatch", LIVEPATCH_VERSION);
        let mut i = 0;
        while i < BuildSetting::ALL.len() {
            let setting = BuildSetting::ALL[i];
            writer.line(setting.key(), setting.recorded());
            i += 1;
        }
        writer.line("program", program.name());
        writer.push(" ");
        writer.push(program.build_id());
        writer.line("patch", patch);
        writer.line("replace", if replace { "true" } else { "false" });
        writer
    }

    /// Adds a state the patch declares, with its data type as the patch writes it.
    pub const fn state(
        mut self,
        id: u64,
        version: u32,
        handle: &str,
        data: &str,
    ) -> ManifestWriter {
        self.newline();
        self.push("state ");
        self.push_u64(id);
        self.push(" ");
        self.push_u64(version as u64);
        self.push(" ");
        self.push(handle);
        self.push(" ");
        self.push(data);
        self
    }

    /// Adds an object of the patch; the callbacks and functions added next are its own.
    pub const fn object(mut self, name: &str) -> ManifestWriter {
        self.line("object", name);
        self
    }

    /// Adds a callback of the last object: its kind (`pre_patch`, ...) and its function.
    pub const fn callback(mut self, kind: &str, function: &str) -> ManifestWriter {
        self.line("callback", kind);
        self.push(" ");
        self.push(function);
        self
    }

    /// Adds a function of the last object that the patch replaces: the replacement, then the
    /// target as the patch names it.
    pub const fn function(mut self, replacement: &str, target: &str) -> ManifestWriter {
        self.line("function", replacement);
        self.push(" ");
        self.push(target);
        self
    }

    /// The finished section.
    pub const fn finish(mut self) -> ManifestBytes {
        self.newline();
        ManifestBytes(self.buf)
    }

    const fn line(&mut self, key: &str, value: &str) {
        self.newline();
        self.push(key);
        self.push(" ");
        self.push(value);
    }

    /// Adds a value, which must hold no newline.
    const fn push(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            if bytes[at] == b'\n' {
                panic!(
                    "a patch library's manifest holds one value a line, and this one has a newline"
                );
            }
            at += 1;
        }
        self.raw(bytes);
    }

    const fn newline(&mut self) {
        self.raw(b"\n");
    }

    const fn raw(&mut self, bytes: &[u8]) {
        // One byte stays NUL, so that the reader always finds the end.
        if self.len + bytes.len() >= MANIFEST_CAPACITY {
            panic!("a patch library's manifest holds 4096 bytes, and this patch needs more");
        }
        let mut i = 0;
        while i < bytes.len() {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn push_u64(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        self.push(decimal(value, &mut digits));
    }
}

/// `value` in decimal, written at the end of `digits`: for text built at compile time, where
/// `format!` cannot run.
#[doc(hidden)]
pub const fn decimal(mut value: u64, digits: &mut [u8; 20]) -> &str {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    let (_, used) = digits.split_at(start);
    match core::str::from_utf8(used) {
        Ok(text) => text,
        // Unreachable: every byte written is an ASCII digit.
        Err(_) => "?",
    }
}

/// A state that a patch library's patch declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestState {
    /// The state's id.
    pub id: u64,
    /// Its version.
    pub version: u32,
    /// The name of its handle in the patch.
    pub handle: String,
    /// The type of its data, as the patch writes it (`()` for none).
    pub data: String,
}

/// An object of a patch library's patch: its callbacks and the functions it replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestObject {
    /// The object's name (`vmlinux` for the program itself).
    pub name: String,
    /// Its callbacks, in the order the runtime runs them.
    pub callbacks: Vec<ManifestCallback>,
    /// The functions of the object that the patch replaces.
    pub functions: Vec<ManifestFunction>,
}

/// A callback of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestCallback {
    /// `pre_patch`, `post_patch`, `pre_unpatch` or `post_unpatch`.
    pub kind: String,
    /// The function of the patch that implements it.
    pub function: String,
}

/// A function that a patch replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFunction {
    /// The replaced function, as the patch names it.
    pub target: String,
    /// The patch's function that replaces it.
    pub replacement: String,
}

/// The kinds of callback, as a manifest names them.
const CALLBACK_KINDS: [&str; 4] = ["pre_patch", "post_patch", "pre_unpatch", "post_unpatch"];

/// A patch library's manifest, read from its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The `livepatch` version the library was built with.
    pub livepatch: String,
    /// How the library was built.
    pub build: BuildConfig,
    /// The name of the program's library crate it was built against.
    pub program: String,
    /// The id of the build of that library it was built against.
    pub program_build: String,
    /// The name of its patch.
    pub patch: String,
    /// Whether its patch is cumulative.
    pub replace: bool,
    /// The states its patch declares.
    pub states: Vec<ManifestState>,
    /// Its patch's objects, the program (`vmlinux`) first.
    pub objects: Vec<ManifestObject>,
}

/// Why a manifest could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ManifestProblem {
    /// A manifest of another format.
    Format(String),
    /// A line that is missing or cannot be read.
    Damaged(String),
}

impl Manifest {
    /// The livepatch version this crate writes.
    pub fn livepatch_version() -> &'static str {
        LIVEPATCH_VERSION
    }

    /// Reads a manifest section.
    pub(crate) fn parse(section: &[u8]) -> Result<Manifest, ManifestProblem> {
        let end = section
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(section.len());
        let text = std::str::from_utf8(&section[..end])
            .map_err(|_| ManifestProblem::Damaged("it is not UTF-8 text".to_owned()))?;
        let mut lines = text
            .lines()
            .map(|line| line.split_once(' ').unwrap_or((line, "")));
        match lines.next() {
            Some((MAGIC, format)) if format == MANIFEST_FORMAT.to_string() => {}
            Some((MAGIC, format)) => return Err(ManifestProblem::Format(format.to_owned())),
            _ => {
                return Err(ManifestProblem::Damaged(format!(
                    "it does not start with `{MAGIC}`"
                )));
            }
        }
        let mut manifest = Manifest {
            livepatch: String::new(),
            build: BuildConfig {
                rustc: String::new(),
                target: String::new(),
                profile: String::new(),
                codegen: String::new(),
            },
            program: String::new(),
            program_build: String::new(),
            patch: String::new(),
            replace: false,
            states: Vec::new(),
            objects: Vec::new(),
        };
        let mut seen = Vec::new();
        for (key, value) in lines {
            let damaged =
                || ManifestProblem::Damaged(format!("its line `{key} {value}` is not valid"));
            if !["state", "object", "callback", "function"].contains(&key) {
                if seen.contains(&key) {
                    return Err(ManifestProblem::Damaged(format!("it has `{key}` twice")));
                }
                seen.push(key);
            }
            match key {
                "livepatch" => manifest.livepatch = value.to_owned(),
                "program" => {
                    let (name, build) = value.split_once(' ').ok_or_else(damaged)?;
                    manifest.program = name.to_owned();
                    manifest.program_build = build.to_owned();
                }
                "patch" => manifest.patch = value.to_owned(),
                "replace" => manifest.replace = value.parse().map_err(|_| damaged())?,
                "state" => {
                    let mut parts = value.splitn(4, ' ');
                    let (Some(id), Some(version), Some(handle), Some(data)) =
                        (parts.next(), parts.next(), parts.next(), parts.next())
                    else {
                        return Err(damaged());
                    };
                    manifest.states.push(ManifestState {
                        id: id.parse().map_err(|_| damaged())?,
                        version: version.parse().map_err(|_| damaged())?,
                        handle: handle.to_owned(),
                        data: data.to_owned(),
                    });
                }
                "object" => manifest.objects.push(ManifestObject {
                    name: value.to_owned(),
                    callbacks: Vec::new(),
                    functions: Vec::new(),
                }),
                "callback" | "function" => {
                    let (first, second) = value.split_once(' ').ok_or_else(damaged)?;
                    let object = manifest.objects.last_mut().ok_or_else(|| {
                        ManifestProblem::Damaged(format!(
                            "its line `{key} {value}` comes before any `object` line"
                        ))
                    })?;
                    match key {
                        "callback" if CALLBACK_KINDS.contains(&first) => {
                            object.callbacks.push(ManifestCallback {
                                kind: first.to_owned(),
                                function: second.to_owned(),
                            })
                        }
                        "callback" => return Err(damaged()),
                        _ => object.functions.push(ManifestFunction {
                            target: second.to_owned(),
                            replacement: first.to_owned(),
                        }),
                    }
                }
                other => match BuildSetting::ALL.into_iter().find(|s| s.key() == other) {
                    Some(setting) => *manifest.build.get_mut(setting) = value.to_owned(),
                    // A later minor addition would change the format number; an unknown key in
                    // this format is damage.
                    None => {
                        return Err(ManifestProblem::Damaged(format!(
                            "it has an unknown line `{other}`"
                        )));
                    }
                },
            }
        }
        let required = [
            "livepatch",
            "rustc",
            "target",
            "profile",
            "codegen",
            "program",
            "patch",
            "replace",
        ];
        if let Some(missing) = required.iter().find(|key| !seen.contains(key)) {
            return Err(ManifestProblem::Damaged(format!(
                "it has no `{missing}` line"
            )));
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Program;

    static PROGRAM: Program = Program::new("app", "0123456789abcdef");

    fn written() -> ManifestBytes {
        ManifestWriter::new(&PROGRAM, "fix_fee", true)
            .state(1, 2, "FEE_RATE", "FeeRate")
            .state(7, 0, "AUDIT", "std::sync::Mutex<Vec<(u8, u32)>>")
            .object("vmlinux")
            .callback("pre_patch", "prepare")
            .callback("post_unpatch", "cleanup")
            .function("fee", "app::fees::fee")
            .object("net")
            .function("checksum", "app::net::Conn::checksum")
            .finish()
    }

    #[test]
    fn a_written_manifest_reads_back_with_this_build() {
        let manifest = Manifest::parse(&written().0).unwrap();
        assert_eq!(
            manifest,
            Manifest {
                livepatch: env!("CARGO_PKG_VERSION").to_owned(),
                build: BuildConfig::current(),
                program: "app".to_owned(),
                program_build: "0123456789abcdef".to_owned(),
                patch: "fix_fee".to_owned(),
                replace: true,
                states: vec![
                    ManifestState {
                        id: 1,
                        version: 2,
                        handle: "FEE_RATE".to_owned(),
                        data: "FeeRate".to_owned(),
                    },
                    ManifestState {
                        id: 7,
                        version: 0,
                        handle: "AUDIT".to_owned(),
                        data: "std::sync::Mutex<Vec<(u8, u32)>>".to_owned(),
                    },
                ],
                objects: vec![
                    ManifestObject {
                        name: "vmlinux".to_owned(),
                        callbacks: vec![
                            ManifestCallback {
                                kind: "pre_patch".to_owned(),
                                function: "prepare".to_owned(),
                            },
                            ManifestCallback {
                                kind: "post_unpatch".to_owned(),
                                function: "cleanup".to_owned(),
                            },
                        ],
                        functions: vec![ManifestFunction {
                            target: "app::fees::fee".to_owned(),
                            replacement: "fee".to_owned(),
                        }],
                    },
                    ManifestObject {
                        name: "net".to_owned(),
                        callbacks: vec![],
                        functions: vec![ManifestFunction {
                            target: "app::net::Conn::checksum".to_owned(),
                            replacement: "checksum".to_owned(),
                        }],
                    },
                ],
            }
        );
    }

    #[test]
    fn the_text_is_one_key_and_value_a_line() {
        let bytes = written();
        let end = bytes.0.iter().position(|&b| b == 0).unwrap();
        let text = std::str::from_utf8(&bytes.0[..end]).unwrap();
        let current = BuildConfig::current();
        let expected = format!(
            "livepatch-manifest 2\nlivepatch {}\nrustc {}\ntarget {}\nprofile {}\ncodegen {}\n\
             program app 0123456789abcdef\npatch fix_fee\nreplace true\nstate 1 2 FEE_RATE FeeRate\n\
             state 7 0 AUDIT std::sync::Mutex<Vec<(u8, u32)>>\nobject vmlinux\n\
             callback pre_patch prepare\ncallback post_unpatch cleanup\n\
             function fee app::fees::fee\nobject net\nfunction checksum app::net::Conn::checksum\n",
            env!("CARGO_PKG_VERSION"),
            current.rustc,
            current.target,
            current.profile,
            current.codegen
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn another_format_is_told_apart_from_damage() {
        assert_eq!(
            Manifest::parse(b"livepatch-manifest 1\nanything"),
            Err(ManifestProblem::Format("1".to_owned()))
        );
        assert_eq!(
            Manifest::parse(b"\x7fELF"),
            Err(ManifestProblem::Damaged(
                "it does not start with `livepatch-manifest`".to_owned()
            ))
        );
        assert_eq!(
            Manifest::parse(b"livepatch-manifest 2\nlivepatch 0.1.0\n"),
            Err(ManifestProblem::Damaged(
                "it has no `rustc` line".to_owned()
            ))
        );
        assert_eq!(
            Manifest::parse(b"livepatch-manifest 2\nreplace maybe\n"),
            Err(ManifestProblem::Damaged(
                "its line `replace maybe` is not valid".to_owned()
            ))
        );
        assert_eq!(
            Manifest::parse(b"livepatch-manifest 2\npatch a\npatch b\n"),
            Err(ManifestProblem::Damaged("it has `patch` twice".to_owned()))
        );
        assert_eq!(
            Manifest::parse(b"livepatch-manifest 2\ncallback pre_patch prepare\n"),
            Err(ManifestProblem::Damaged(
                "its line `callback pre_patch prepare` comes before any `object` line".to_owned()
            ))
        );
        assert_eq!(
            Manifest::parse(b"livepatch-manifest 2\nobject vmlinux\ncallback during x\n"),
            Err(ManifestProblem::Damaged(
                "its line `callback during x` is not valid".to_owned()
            ))
        );
        assert_eq!(
            Manifest::parse(b"livepatch-manifest 2\nstate 1 2 FEE_RATE\n"),
            Err(ManifestProblem::Damaged(
                "its line `state 1 2 FEE_RATE` is not valid".to_owned()
            ))
        );
        assert_eq!(
            Manifest::parse(&[0xff, 0xfe]),
            Err(ManifestProblem::Damaged("it is not UTF-8 text".to_owned()))
        );
    }

    #[test]
    fn the_recorded_build_has_every_setting() {
        let current = BuildConfig::current();
        assert!(current.rustc.starts_with("rustc 1."), "{}", current.rustc);
        assert!(
            current.target.starts_with(std::env::consts::ARCH),
            "{}",
            current.target
        );
        assert!(
            current.profile.contains("opt-level="),
            "{}",
            current.profile
        );
    }
}
