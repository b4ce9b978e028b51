//! Dynamic analysis (`lambada profile`): runs the original program once, locally, under
//! the embedded profiler (`templates/profiler.py`), and keeps what the planner's cost
//! model needs about each top-level function and class: calls, inclusive and self time,
//! sampled encoded sizes of arguments and results, and the calls between them. The
//! result is `<out>/<stem>.profile.json`; `load` reads it back for `--profile FILE`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::codegen::RUNTIME_FILES;
use crate::parse;

/// The profiler script, run by the program's own interpreter.
const PROFILER: &str = include_str!("../templates/profiler.py");
/// The runtime's codec, which the profiler uses to measure encoded sizes exactly as a
/// call would send them.
const WIRE: &str = "lambada_runtime/wire.py";
/// The only profile format this lambada reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The caller name of calls made by module-level code (the part that stays the driver).
pub const MODULE_CALLER: &str = "<module>";

/// A profile file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub version: u32,
    /// The program as it was given to `lambada profile`.
    pub program: String,
    /// SHA-256 of the program's source, hex: `run --profile` reuses a profile only
    /// for the source it was made from.
    #[serde(default)]
    pub source_sha256: String,
    /// The interpreter's version (`3.12.1`).
    pub python: String,
    /// `sys.monitoring` (Python 3.12+) or `sys.setprofile`.
    pub mechanism: String,
    /// How sizes were measured.
    pub size_encoder: String,
    /// The whole run, nanoseconds.
    pub wall_ns: u64,
    pub exit_code: i32,
    /// By unit name (a top-level function, or a class with its methods).
    pub units: BTreeMap<String, UnitProfile>,
    /// Entries of one unit from another, sorted by caller then callee.
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitProfile {
    /// `function` or `class`.
    pub kind: String,
    /// Entries from outside the unit: each would be one invocation if it moved.
    pub calls: u64,
    /// Every call of its code, recursion and calls between its own methods included.
    pub frames: u64,
    /// Time from each entry to its exit, summed.
    pub inclusive_ns: u64,
    /// Inclusive time minus the time spent in other units it called.
    pub self_ns: u64,
    /// Classes: each method's figures (its calls are the class's entries through it).
    #[serde(default)]
    pub methods: BTreeMap<String, MethodProfile>,
    /// Arguments of an entry (a method's receiver included), encoded.
    pub arg_bytes: Sizes,
    /// Results of an entry, encoded.
    pub result_bytes: Sizes,
    /// Sampled entries whose arguments or result could not be encoded.
    #[serde(default)]
    pub cannot_travel: u64,
}

/// One method of a class unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodProfile {
    pub frames: u64,
    pub calls: u64,
    pub inclusive_ns: u64,
    pub self_ns: u64,
}

/// Sampled encoded sizes, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sizes {
    pub samples: u64,
    pub mean: u64,
    pub max: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edge {
    pub caller: String,
    pub callee: String,
    pub calls: u64,
}

impl UnitProfile {
    /// Mean inclusive time per entry, microseconds.
    pub fn mean_micros(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.inclusive_ns as f64 / self.calls as f64 / 1000.0
        }
    }
}

impl Profile {
    /// Entries of `callee`, by caller.
    pub fn callers(&self, callee: &str) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.callee == callee)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Input(#[from] parse::InputError),
    #[error("cannot prepare a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("cannot start {python}: {source}; pass --python with the interpreter to use")]
    Python {
        python: String,
        source: std::io::Error,
    },
    #[error(
        "{program}: the program ended without the profiler writing its figures (exit status {status}); a program that leaves through os._exit() or is killed cannot be profiled"
    )]
    NoFigures { program: PathBuf, status: String },
    #[error(
        "{path}: error: cannot read the profile: {source}; make one with `lambada profile PROGRAM.py`"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: error: not a lambada profile ({message}); make one with `lambada profile PROGRAM.py`"
    )]
    Format { path: PathBuf, message: String },
    #[error("{path}: error: cannot write the profile: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How `lambada profile` runs the program.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    pub python: String,
    pub program_args: Vec<String>,
    /// Where `<stem>.profile.json` goes.
    pub out: PathBuf,
    /// `lambada run --profile`: the program's output is discarded (the run that follows
    /// shows it) and its stdin is these bytes, which the run that follows gets again.
    pub rehearsal: Option<Vec<u8>>,
}

/// What a profile run gave.
#[derive(Debug)]
pub struct ProfileRun {
    /// The program's own exit status.
    pub exit_code: i32,
    pub path: PathBuf,
    pub profile: Profile,
}

/// The file a program's profile is written to: `<out>/<stem>.profile.json`.
pub fn profile_path(out: &Path, program: &Path) -> PathBuf {
    let stem = program.file_stem().unwrap_or_default().to_string_lossy();
    out.join(format!("{stem}.profile.json"))
}

/// Runs `program` once under the profiler, with this process's standard streams, and
/// writes its profile. The program is parsed first, so a syntax error is reported as
/// the compiler reports it, before anything runs.
pub fn run(program: &Path, options: &ProfileOptions) -> Result<ProfileRun, ProfileError> {
    let source = parse::read(program)?;
    let source_sha256 = sha256_hex(source.text.as_bytes());
    parse::parse(source)?;
    let scratch = tempfile::Builder::new()
        .prefix("lambada-profile.")
        .tempdir()
        .map_err(ProfileError::TempDir)?;
    let script = scratch.path().join("lambada_profiler.py");
    let wire = scratch.path().join("lambada_wire.py");
    let raw = scratch.path().join("raw.json");
    std::fs::write(&script, PROFILER).map_err(ProfileError::TempDir)?;
    std::fs::write(&wire, wire_source()).map_err(ProfileError::TempDir)?;
    let mut command = Command::new(&options.python);
    command
        .arg(&script)
        .arg(&raw)
        .arg(&wire)
        .arg(program)
        .args(&options.program_args);
    let python_error = |source| ProfileError::Python {
        python: options.python.clone(),
        source,
    };
    let status = match &options.rehearsal {
        None => command.status().map_err(python_error)?,
        Some(stdin) => rehearse(&mut command, stdin).map_err(python_error)?,
    };
    if !raw.exists() {
        return Err(ProfileError::NoFigures {
            program: program.to_owned(),
            status: status.to_string(),
        });
    }
    let mut profile = load(&raw)?;
    profile.edges.sort();
    profile.source_sha256 = source_sha256;
    let path = profile_path(&options.out, program);
    write(&profile, &path)?;
    Ok(ProfileRun {
        exit_code: profile.exit_code,
        path,
        profile,
    })
}

/// Runs the program with `stdin` as its input and its output discarded.
fn rehearse(command: &mut Command, stdin: &[u8]) -> std::io::Result<std::process::ExitStatus> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        // A program that stops reading early closes the pipe: not an error.
        let _ = std::io::Write::write_all(&mut pipe, stdin);
    }
    child.wait()
}

fn wire_source() -> &'static [u8] {
    RUNTIME_FILES
        .iter()
        .find(|(path, _)| *path == WIRE)
        .map(|(_, bytes)| *bytes)
        .expect("the runtime package has its codec")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The profile at `path` if it was made from `program`'s current source: profiling
/// runs the whole program, so `lambada run --profile` does it once per source.
pub fn reusable(path: &Path, program: &Path) -> Option<Profile> {
    let profile = load(path).ok()?;
    made_from(&profile, program).then_some(profile)
}

/// Whether the profile was made from `program`'s current source (a profile without
/// the source's hash, written by hand, counts as made from it).
pub fn made_from(profile: &Profile, program: &Path) -> bool {
    profile.source_sha256.is_empty()
        || std::fs::read(program).is_ok_and(|source| profile.source_sha256 == sha256_hex(&source))
}

/// Reads a profile file (`--profile FILE`).
pub fn load(path: &Path) -> Result<Profile, ProfileError> {
    let text = std::fs::read(path).map_err(|source| ProfileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let format = |message: String| ProfileError::Format {
        path: path.to_owned(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format(e.to_string()))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(format(format!(
            "format version {}, this lambada reads version {FORMAT_VERSION}",
            version.map_or("missing".to_owned(), |v| v.to_string())
        )));
    }
    serde_json::from_value(value).map_err(|e| format(e.to_string()))
}

/// Writes the profile atomically: a temporary file in the same directory, renamed
/// over the old one, so a reader never sees half a profile.
pub fn write(profile: &Profile, path: &Path) -> Result<(), ProfileError> {
    let error = |source| ProfileError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(error)?;
    let mut text = serde_json::to_string_pretty(profile).expect("profiles serialise");
    text.push('\n');
    let mut file = tempfile::Builder::new()
        .prefix(".profile.")
        .tempfile_in(dir)
        .map_err(error)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_another_format_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{"version": 7}"#).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("format version 7"), "{err}");
        assert!(err.contains("lambada profile PROGRAM.py"), "{err}");
        let err = load(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the profile"), "{err}");
    }

    #[test]
    fn the_profile_goes_beside_the_output_named_for_the_program() {
        assert_eq!(
            profile_path(Path::new("lambada-out"), Path::new("src/app.py")),
            Path::new("lambada-out/app.profile.json")
        );
    }
}
