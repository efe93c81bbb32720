//! How this crate was built: the compiler, target, profile and codegen flags that a patch
//! library must share with the program it patches.

use std::fmt;

/// The values the build script recorded, as constants.
mod recorded {
    include!(concat!(env!("OUT_DIR"), "/build.rs"));
}

/// The compiler, target, profile and codegen flags of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildConfig {
    /// `rustc -V`.
    pub rustc: String,
    /// The target triple.
    pub target: String,
    /// The cargo profile, with its optimisation, debug information, debug assertions and panic
    /// strategy.
    pub profile: String,
    /// The codegen flags (`RUSTFLAGS`), space-separated.
    pub codegen: String,
}

/// One setting of a [`BuildConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuildSetting {
    /// The compiler's version.
    Rustc,
    /// The target triple.
    Target,
    /// The cargo profile.
    Profile,
    /// The codegen flags.
    Codegen,
}

impl BuildSetting {
    /// Every setting, in the manifest's order.
    pub const ALL: [BuildSetting; 4] = [
        BuildSetting::Rustc,
        BuildSetting::Target,
        BuildSetting::Profile,
        BuildSetting::Codegen,
    ];

    /// The setting's key in a manifest.
    pub const fn key(self) -> &'static str {
        match self {
            BuildSetting::Rustc => "rustc",
            BuildSetting::Target => "target",
            BuildSetting::Profile => "profile",
            BuildSetting::Codegen => "codegen",
        }
    }

    /// The value this crate's build recorded, at compile time.
    pub(crate) const fn recorded(self) -> &'static str {
        match self {
            BuildSetting::Rustc => recorded::RUSTC,
            BuildSetting::Target => recorded::TARGET,
            BuildSetting::Profile => recorded::PROFILE,
            BuildSetting::Codegen => recorded::CODEGEN,
        }
    }

    /// What to change so that a patch library's build matches the program's.
    pub(crate) const fn advice(self) -> &'static str {
        match self {
            BuildSetting::Rustc => "build the patch with the program's toolchain",
            BuildSetting::Target => "build the patch for the program's target",
            BuildSetting::Profile => "build the patch with the program's cargo profile",
            BuildSetting::Codegen => {
                "build the patch with the program's RUSTFLAGS (patch libraries need \
                 `-C prefer-dynamic`, as the program does)"
            }
        }
    }
}

impl fmt::Display for BuildSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildSetting::Rustc => "compiler",
            BuildSetting::Target => "target",
            BuildSetting::Profile => "profile",
            BuildSetting::Codegen => "codegen flags",
        })
    }
}

impl BuildConfig {
    /// The build of the running program (of this crate, as the program links it).
    pub fn current() -> BuildConfig {
        BuildConfig {
            rustc: BuildSetting::Rustc.recorded().to_owned(),
            target: BuildSetting::Target.recorded().to_owned(),
            profile: BuildSetting::Profile.recorded().to_owned(),
            codegen: BuildSetting::Codegen.recorded().to_owned(),
        }
    }

    /// The value of one setting.
    pub fn get(&self, setting: BuildSetting) -> &str {
        match setting {
            BuildSetting::Rustc => &self.rustc,
            BuildSetting::Target => &self.target,
            BuildSetting::Profile => &self.profile,
            BuildSetting::Codegen => &self.codegen,
        }
    }

    pub(crate) fn get_mut(&mut self, setting: BuildSetting) -> &mut String {
        match setting {
            BuildSetting::Rustc => &mut self.rustc,
            BuildSetting::Target => &mut self.target,
            BuildSetting::Profile => &mut self.profile,
            BuildSetting::Codegen => &mut self.codegen,
        }
    }

    /// The first setting in which `self` differs from `other`.
    pub fn first_difference(&self, other: &BuildConfig) -> Option<BuildSetting> {
        BuildSetting::ALL
            .into_iter()
            .find(|&setting| self.get(setting) != other.get(setting))
    }
}
