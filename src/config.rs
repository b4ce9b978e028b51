//! Configuration: `[tool.lambada]` in the `pyproject.toml` found upwards from the
//! program sets what the command-line flags set; a flag given on the command line (or
//! through its environment variable) wins. Every setting remembers where its value came
//! from, for `-v`.
//!
//! The first `pyproject.toml` found upwards is the project's: one without a
//! `[tool.lambada]` table sets nothing, and the search stops there.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::analysis::{MEMORY_RANGE_MB, TIMEOUT_RANGE_S};
use crate::plan::RemoteCalls;

pub const PYPROJECT: &str = "pyproject.toml";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    /// A flag (`--memory`) or its environment variable (`LAMBADA_ROLE_ARN`).
    CommandLine(String),
    File {
        path: PathBuf,
        line: usize,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("(default)"),
            Source::CommandLine(flag) => write!(f, "({flag})"),
            Source::File { path, line } => write!(f, "({}:{line})", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// A value given on the command line, with the flag that gave it.
pub type Given<T> = Option<(T, String)>;

/// What the command line gave; `None` where it said nothing.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub endpoint: Given<String>,
    pub region: Given<String>,
    pub prefix: Given<String>,
    pub role: Given<String>,
    pub memory: Given<u32>,
    pub timeout: Given<u32>,
    pub remote_calls: Given<RemoteCalls>,
    pub fanout: Given<u32>,
    pub exclude: Given<Vec<String>>,
}

/// Every setting, resolved: flag, else file, else default.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The pyproject.toml that was read, if one was found.
    pub file: Option<PathBuf>,
    pub endpoint: Setting<Option<String>>,
    pub region: Setting<Option<String>>,
    pub prefix: Setting<String>,
    pub role: Setting<Option<String>>,
    pub memory: Setting<u32>,
    pub timeout: Setting<u32>,
    pub remote_calls: Setting<RemoteCalls>,
    pub fanout: Setting<u32>,
    pub exclude: Setting<Vec<String>>,
}

impl Settings {
    /// The `-v` lines: `memory = 512 (pyproject.toml:12)`.
    pub fn describe(&self) -> String {
        fn line<T: fmt::Debug>(name: &str, setting: &Setting<T>) -> String {
            format!("  {name} = {:?} {}\n", setting.value, setting.source)
        }
        fn optional(name: &str, setting: &Setting<Option<String>>) -> String {
            match &setting.value {
                Some(value) => format!("  {name} = {value:?} {}\n", setting.source),
                None => format!("  {name} = - {}\n", setting.source),
            }
        }
        let mut text = match &self.file {
            Some(path) => format!("settings (from {} and the flags):\n", path.display()),
            None => "settings (no pyproject.toml found; flags and defaults):\n".to_owned(),
        };
        text += &optional("endpoint", &self.endpoint);
        text += &optional("region", &self.region);
        text += &line("prefix", &self.prefix);
        text += &optional("role", &self.role);
        text += &line("memory", &self.memory);
        text += &line("timeout", &self.timeout);
        text += &format!(
            "  remote-calls = {} {}\n",
            match self.remote_calls.value {
                RemoteCalls::Driver => "driver",
                RemoteCalls::All => "all",
            },
            self.remote_calls.source
        );
        text += &line("fanout", &self.fanout);
        text += &line("exclude", &self.exclude);
        text
    }
}

/// A configuration file lambada cannot use: `file:line:col: error: ...`.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: error: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
struct Pyproject {
    tool: Option<Tool>,
}

#[derive(Debug, Default, Deserialize)]
struct Tool {
    lambada: Option<Table>,
}

/// `[tool.lambada]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Table {
    endpoint: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    memory: Option<Spanned<u32>>,
    timeout: Option<Spanned<u32>>,
    remote_calls: Option<Spanned<RemoteCalls>>,
    fanout: Option<Spanned<u32>>,
    exclude: Option<Spanned<Vec<String>>>,
}

/// The first `pyproject.toml` in the program's directory or above it.
pub fn find_pyproject(program: &Path) -> Option<PathBuf> {
    let dir = match program.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let start = dir.canonicalize().unwrap_or(dir.clone());
    let mut shown = dir;
    for at in start.ancestors() {
        let candidate = at.join(PYPROJECT);
        if candidate.is_file() {
            // Shown as the user would reach it from where they are.
            return Some(shown.join(PYPROJECT));
        }
        shown = shown.join("..");
    }
    None
}

/// Resolves every setting for `program`: flags, then its pyproject.toml, then defaults.
pub fn resolve(program: &Path, flags: Flags) -> Result<Settings, ConfigError> {
    let file = find_pyproject(program);
    let (table, text) = match &file {
        Some(path) => read_table(path)?,
        None => (Table::default(), String::new()),
    };
    let path = file.clone().unwrap_or_default();
    let at = |span: std::ops::Range<usize>| position(&text, span.start);
    let source_of = |span: std::ops::Range<usize>| Source::File {
        path: path.clone(),
        line: at(span).0,
    };
    let error = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = at(span);
        ConfigError {
            path: path.clone(),
            line,
            column,
            message,
        }
    };
    for (value, range, name, unit) in [
        (&table.memory, MEMORY_RANGE_MB, "memory", "MB"),
        (&table.timeout, TIMEOUT_RANGE_S, "timeout", "seconds"),
    ] {
        if let Some(value) = value
            && !range.contains(value.get_ref())
        {
            return Err(error(
                value.span(),
                format!(
                    "{name} = {}: Lambda accepts {}..={} {unit}",
                    value.get_ref(),
                    range.start(),
                    range.end()
                ),
            ));
        }
    }
    if let Some(prefix) = &table.prefix
        && !crate::package::is_valid_prefix(prefix.get_ref())
    {
        return Err(error(
            prefix.span(),
            "prefix may only contain letters, digits, '-' and '_' (Lambda function names)".into(),
        ));
    }
    if let Some(fanout) = &table.fanout
        && *fanout.get_ref() == 0
    {
        return Err(error(fanout.span(), "fanout must be at least 1".into()));
    }
    fn pick<T>(
        flag: Given<T>,
        file: Option<Spanned<T>>,
        default: T,
        source_of: &dyn Fn(std::ops::Range<usize>) -> Source,
    ) -> Setting<T> {
        match (flag, file) {
            (Some((value, flag)), _) => Setting {
                value,
                source: Source::CommandLine(flag),
            },
            (None, Some(spanned)) => Setting {
                source: source_of(spanned.span()),
                value: spanned.into_inner(),
            },
            (None, None) => Setting {
                value: default,
                source: Source::Default,
            },
        }
    }
    fn some<T>(given: Given<T>) -> Given<Option<T>> {
        given.map(|(value, flag)| (Some(value), flag))
    }
    fn some_spanned<T>(file: Option<Spanned<T>>) -> Option<Spanned<Option<T>>> {
        file.map(|s| {
            let span = s.span();
            Spanned::new(span, Some(s.into_inner()))
        })
    }
    Ok(Settings {
        file,
        endpoint: pick(
            some(flags.endpoint),
            some_spanned(table.endpoint),
            None,
            &source_of,
        ),
        region: pick(
            some(flags.region),
            some_spanned(table.region),
            None,
            &source_of,
        ),
        prefix: pick(flags.prefix, table.prefix, String::new(), &source_of),
        role: pick(some(flags.role), some_spanned(table.role), None, &source_of),
        memory: pick(
            flags.memory,
            table.memory,
            crate::plan::DEFAULT_MEMORY_MB,
            &source_of,
        ),
        timeout: pick(
            flags.timeout,
            table.timeout,
            crate::plan::DEFAULT_TIMEOUT_S,
            &source_of,
        ),
        remote_calls: pick(
            flags.remote_calls,
            table.remote_calls,
            RemoteCalls::Driver,
            &source_of,
        ),
        fanout: pick(
            flags.fanout,
            table.fanout,
            crate::package::DEFAULT_FANOUT,
            &source_of,
        ),
        exclude: pick(flags.exclude, table.exclude, Vec::new(), &source_of),
    })
}

fn read_table(path: &Path) -> Result<(Table, String), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_owned(),
        line: 1,
        column: 1,
        message: format!("cannot read: {e}"),
    })?;
    let parsed: Pyproject = toml::from_str(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| position(&text, span.start))
            .unwrap_or((1, 1));
        ConfigError {
            path: path.to_owned(),
            line,
            column,
            message: e.message().trim_end().to_owned(),
        }
    })?;
    let table = parsed.tool.and_then(|t| t.lambada).unwrap_or_default();
    Ok((table, text))
}

/// One-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(toml: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join(PYPROJECT), toml).unwrap();
        let program = dir.path().join("src/app.py");
        std::fs::write(&program, "print(1)\n").unwrap();
        (dir, program)
    }

    #[test]
    fn the_file_sets_what_no_flag_gives_and_says_where() {
        let (_dir, program) = project(
            "[project]\nname = \"x\"\n\n[tool.lambada]\nmemory = 512\nprefix = \"shop\"\nremote-calls = \"all\"\nexclude = [\"main\"]\n",
        );
        let flags = Flags {
            prefix: Some(("cli".into(), "--prefix".into())),
            ..Flags::default()
        };
        let settings = resolve(&program, flags).unwrap();
        assert_eq!(settings.memory.value, 512);
        assert!(
            settings
                .memory
                .source
                .to_string()
                .ends_with("pyproject.toml:5)")
        );
        assert_eq!(settings.prefix.value, "cli");
        assert_eq!(settings.prefix.source.to_string(), "(--prefix)");
        assert_eq!(settings.remote_calls.value, RemoteCalls::All);
        assert_eq!(settings.exclude.value, vec!["main".to_owned()]);
        assert_eq!(settings.timeout.value, crate::plan::DEFAULT_TIMEOUT_S);
        assert_eq!(settings.timeout.source, Source::Default);
    }

    #[test]
    fn a_pyproject_without_the_table_sets_nothing_and_stops_the_search() {
        let (dir, program) = project("[tool.lambada]\nmemory = 512\n");
        std::fs::write(dir.path().join("src").join(PYPROJECT), "[project]\n").unwrap();
        let settings = resolve(&program, Flags::default()).unwrap();
        assert_eq!(settings.memory.value, crate::plan::DEFAULT_MEMORY_MB);
        assert!(settings.file.unwrap().ends_with("src/pyproject.toml"));
    }

    #[test]
    fn bad_values_and_unknown_keys_name_file_line_and_column() {
        let (_dir, program) = project("[tool.lambada]\nregion = \"eu-west-1\"\nmemory = 64\n");
        let err = resolve(&program, Flags::default()).unwrap_err();
        assert_eq!((err.line, err.column), (3, 10));
        assert!(
            err.to_string()
                .contains("memory = 64: Lambda accepts 128..=10240 MB")
        );
        let (_dir, program) = project("[tool.lambada]\nmemroy = 256\n");
        let err = resolve(&program, Flags::default()).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("memroy"), "{err}");
    }
}
