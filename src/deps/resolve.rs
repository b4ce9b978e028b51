//! Which distribution provides each third-party import, and at which version.
//!
//! Sources, in order: the program's `requirements.txt`, its `pyproject.toml`
//! `[project] dependencies`, then the distributions installed in the active Python
//! environment (`importlib.metadata.packages_distributions()`), pinned to the installed
//! version. An import none of them provides is an error before anything is built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One requirement as pip reads it (`requests==2.32.3`, `numpy>=2`, `attrs`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Requirement {
    /// The normalized distribution name (PEP 503).
    pub name: String,
    /// The line given to the installer.
    pub spec: String,
    /// Where it came from: `requirements.txt:3`, `pyproject.toml`, `installed`.
    pub from: String,
}

/// The requirements a program declares.
#[derive(Debug, Default)]
pub struct Declared {
    pub requirements: Vec<Requirement>,
    /// Lines lambada cannot follow (editable installs, options), as warnings.
    pub warnings: Vec<String>,
}

/// Reads `requirements.txt` (following `-r`) and `pyproject.toml` beside the program.
pub fn declared(dir: &Path) -> Result<Declared, String> {
    let mut declared = Declared::default();
    let requirements = dir.join("requirements.txt");
    if requirements.is_file() {
        read_requirements(&requirements, &mut declared, 0)?;
    }
    let pyproject = dir.join("pyproject.toml");
    if pyproject.is_file() {
        let text = std::fs::read_to_string(&pyproject)
            .map_err(|e| format!("{}: cannot read: {e}", pyproject.display()))?;
        let value: toml::Table = text
            .parse()
            .map_err(|e| format!("{}: not valid TOML: {e}", pyproject.display()))?;
        let dependencies = value
            .get("project")
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array());
        for spec in dependencies
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
        {
            if let Some(name) = requirement_name(spec) {
                declared.requirements.push(Requirement {
                    name,
                    spec: spec.trim().to_owned(),
                    from: "pyproject.toml".into(),
                });
            }
        }
    }
    Ok(declared)
}

fn read_requirements(path: &Path, declared: &mut Declared, depth: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    for (index, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("{file}:{}", index + 1);
        if let Some(included) = line
            .strip_prefix("-r ")
            .or_else(|| line.strip_prefix("--requirement "))
        {
            if depth > 8 {
                return Err(format!("{}: -r nested too deeply", path.display()));
            }
            let included = path.with_file_name(included.trim());
            read_requirements(&included, declared, depth + 1)?;
        } else if line.starts_with('-') {
            declared.warnings.push(format!(
                "{at}: `{line}` is not followed (pass index options with --find-links/--no-index)"
            ));
        } else if let Some(name) = requirement_name(line) {
            declared.requirements.push(Requirement {
                name,
                spec: line.to_owned(),
                from: at,
            });
        } else {
            declared.warnings.push(format!(
                "{at}: `{line}` is not a requirement lambada understands"
            ));
        }
    }
    Ok(())
}

fn strip_comment(line: &str) -> &str {
    match line
        .find(" #")
        .or_else(|| line.starts_with('#').then_some(0))
    {
        Some(at) => &line[..at],
        None => line,
    }
}

/// The normalized distribution name at the start of a PEP 508 requirement.
fn requirement_name(spec: &str) -> Option<String> {
    let spec = spec.trim();
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..end];
    (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphanumeric()))
        .then(|| normalize(name))
}

/// PEP 503: lower case, runs of `-`, `_` and `.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Import names whose distribution is named otherwise, for requirements of
/// distributions that are not installed here (when they are, their metadata says).
const KNOWN_DISTRIBUTIONS: &[(&str, &str)] = &[
    ("PIL", "pillow"),
    ("yaml", "pyyaml"),
    ("bs4", "beautifulsoup4"),
    ("cv2", "opencv-python-headless"),
    ("sklearn", "scikit-learn"),
    ("skimage", "scikit-image"),
    ("dateutil", "python-dateutil"),
    ("dotenv", "python-dotenv"),
    ("jwt", "pyjwt"),
    ("attr", "attrs"),
    ("serial", "pyserial"),
    ("Crypto", "pycryptodome"),
    ("OpenSSL", "pyopenssl"),
    ("zmq", "pyzmq"),
    ("docx", "python-docx"),
    ("fitz", "pymupdf"),
    ("MySQLdb", "mysqlclient"),
    ("magic", "python-magic"),
];

/// Distribution names an import may come from when nothing installed says.
fn guessed_distributions(top: &str) -> Vec<String> {
    let mut names = vec![normalize(top)];
    names.extend(
        KNOWN_DISTRIBUTIONS
            .iter()
            .filter(|(import, _)| *import == top)
            .map(|(_, dist)| (*dist).to_owned()),
    );
    if top == "cv2" {
        names.push("opencv-python".into());
    }
    names
}

/// What the active Python environment knows about some imports.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Environment {
    /// `[major, minor]` of the interpreter asked.
    pub version: (u32, u32),
    pub modules: BTreeMap<String, ModuleInfo>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ModuleInfo {
    /// Distributions providing the module, with their installed versions.
    pub dists: Vec<(String, Option<String>)>,
    /// The module can be imported here.
    pub found: bool,
    pub origin: Option<String>,
}

const QUERY: &str = r#"
import importlib.metadata as md, importlib.util, json, sys
names = json.loads(sys.argv[1])
provided = md.packages_distributions()
modules = {}
for name in names:
    dists = []
    for dist in sorted(set(provided.get(name, []))):
        try:
            version = md.version(dist)
        except Exception:
            version = None
        dists.append([dist, version])
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        spec = None
    modules[name] = {"dists": dists, "found": spec is not None,
                     "origin": getattr(spec, "origin", None)}
print(json.dumps({"version": list(sys.version_info[:2]), "modules": modules}))
"#;

/// Asks `python` which distributions provide `names`. Runs from a scratch directory so
/// files beside the program cannot answer for an installed package.
pub fn query_environment(python: &str, names: &[String]) -> Result<Environment, String> {
    let scratch = std::env::temp_dir();
    let output = Command::new(python)
        .arg("-c")
        .arg(QUERY)
        .arg(serde_json::to_string(names).expect("names serialise"))
        .current_dir(scratch)
        .env_remove("PYTHONPATH")
        .output()
        .map_err(|e| format!("cannot run {python} to look up installed distributions: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{python} failed looking up installed distributions: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unexpected answer from {python} about installed distributions: {e}"))
}

/// How one import was resolved.
#[derive(Debug, Clone)]
pub enum Resolution {
    Provided(Requirement),
    /// Several installed distributions provide the module (namespace packages such as
    /// `google`): the program must say which it needs.
    Ambiguous(Vec<String>),
    Missing {
        found_here: Option<String>,
    },
}

/// Resolves one top-level import against the declared requirements, then the
/// environment.
pub fn resolve(top: &str, declared: &Declared, env: &Environment) -> Resolution {
    let info = env.modules.get(top);
    let installed: Vec<String> = info
        .map(|i| i.dists.iter().map(|(d, _)| normalize(d)).collect())
        .unwrap_or_default();
    let candidates: BTreeSet<String> = if installed.is_empty() {
        guessed_distributions(top).into_iter().collect()
    } else {
        installed.iter().cloned().collect()
    };
    // Declared sources first, in order: requirements.txt, then pyproject.toml.
    for from_pyproject in [false, true] {
        let matching = declared
            .requirements
            .iter()
            .filter(|r| (r.from == "pyproject.toml") == from_pyproject)
            .find(|r| candidates.contains(&r.name));
        if let Some(requirement) = matching {
            return Resolution::Provided(pinned(requirement, info));
        }
    }
    let Some(info) = info else {
        return Resolution::Missing { found_here: None };
    };
    match info.dists.as_slice() {
        [(dist, Some(version))] => Resolution::Provided(Requirement {
            name: normalize(dist),
            spec: format!("{}=={version}", normalize(dist)),
            from: "installed".into(),
        }),
        [] | [(_, None)] => Resolution::Missing {
            found_here: info.found.then(|| info.origin.clone().unwrap_or_default()),
        },
        several => Resolution::Ambiguous(several.iter().map(|(d, _)| normalize(d)).collect()),
    }
}

/// A declared requirement without a version, pinned to the version installed here
/// (the one the program was run and tested with); others as declared.
fn pinned(requirement: &Requirement, info: Option<&ModuleInfo>) -> Requirement {
    let spec = requirement.spec.trim();
    let bare = spec
        .find(|c: char| {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '[' | ']' | ','))
        })
        .is_none();
    let installed = info.and_then(|i| {
        i.dists
            .iter()
            .find(|(d, _)| normalize(d) == requirement.name)
            .and_then(|(_, v)| v.clone())
    });
    match installed {
        Some(version) if bare => Requirement {
            spec: format!("{spec}=={version}"),
            from: format!("{}, pinned to the installed version", requirement.from),
            ..requirement.clone()
        },
        _ => requirement.clone(),
    }
}

/// The file a requirement came from, for messages.
pub fn source_file(dir: &Path, requirement: &Requirement) -> Option<PathBuf> {
    let file = requirement.from.split(':').next()?;
    (file != "installed").then(|| dir.join(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(entries: &[(&str, &[(&str, &str)])]) -> Environment {
        Environment {
            version: (3, 12),
            modules: entries
                .iter()
                .map(|(name, dists)| {
                    let info = ModuleInfo {
                        dists: dists
                            .iter()
                            .map(|(d, v)| ((*d).to_owned(), Some((*v).to_owned())))
                            .collect(),
                        found: !dists.is_empty(),
                        origin: None,
                    };
                    ((*name).to_owned(), info)
                })
                .collect(),
        }
    }

    #[test]
    fn names_normalize_as_pep_503_says() {
        assert_eq!(normalize("Friendly_Bard.Name"), "friendly-bard-name");
        assert_eq!(
            requirement_name("PyYAML>=6 ; python_version>'3'").as_deref(),
            Some("pyyaml")
        );
        assert_eq!(
            requirement_name("requests[socks]==2.32.3").as_deref(),
            Some("requests")
        );
        assert_eq!(requirement_name("--index-url x"), None);
    }

    #[test]
    fn requirements_files_come_first_then_the_environment_pins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("requirements.txt"),
            "# deps\nPyYAML>=6  # config\n-r more.txt\n-e ./local\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("more.txt"), "beautifulsoup4==4.12.3\n").unwrap();
        let declared = declared(dir.path()).unwrap();
        assert_eq!(declared.requirements.len(), 2);
        assert_eq!(declared.warnings.len(), 1, "{:?}", declared.warnings);
        let env = env(&[("requests", &[("requests", "2.32.3")]), ("yaml", &[])]);
        let spec = |top| match resolve(top, &declared, &env) {
            Resolution::Provided(r) => format!("{} ({})", r.spec, r.from),
            other => format!("{other:?}"),
        };
        assert_eq!(spec("yaml"), "PyYAML>=6 (requirements.txt:2)");
        assert_eq!(spec("bs4"), "beautifulsoup4==4.12.3 (more.txt:1)");
        assert_eq!(spec("requests"), "requests==2.32.3 (installed)");
        // A declared requirement without a version is pinned to the installed one.
        let bare = Declared {
            requirements: vec![Requirement {
                name: "requests".into(),
                spec: "requests".into(),
                from: "requirements.txt:1".into(),
            }],
            warnings: Vec::new(),
        };
        match resolve("requests", &bare, &env) {
            Resolution::Provided(r) => {
                assert_eq!(r.spec, "requests==2.32.3");
                assert_eq!(
                    r.from,
                    "requirements.txt:1, pinned to the installed version"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(spec("nothing").as_str(), s if s.starts_with("Missing")));
    }

    #[test]
    fn namespace_packages_must_be_named() {
        let env = env(&[("google", &[("protobuf", "5"), ("google-auth", "2")])]);
        assert!(matches!(
            resolve("google", &Declared::default(), &env),
            Resolution::Ambiguous(d) if d.len() == 2
        ));
    }
}
