//! Stage between `plan` and deployment: what each cloud function imports from outside
//! the standard library and the program travels with it.
//!
//! 1. [`scan`]: the imports of every moved function's slice and of the local modules it
//!    carries, at any depth.
//! 2. [`stdlib`] and the local modules answer for most; the rest are third-party, and
//!    [`resolve`] maps them to distributions (requirements.txt, pyproject.toml, then
//!    what is installed, pinned). An import nothing provides is an error here, at
//!    compile time, with its file and line.
//! 3. [`install`] builds each distinct set once for the target platform (cached).
//! 4. [`attach`] puts them in the output: one layer per set, shared by the functions
//!    that need the same set, or vendored into each zip with `--no-layers`; Lambda's
//!    size limits are checked before anything is uploaded.

pub mod data;
pub mod install;
pub mod resolve;
pub mod scan;
pub mod stdlib;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::Compiled;
use crate::package::{self, Bytes, LayerEntry};
pub use install::{Arch, IndexOptions, Installer, Layer, Target};
use resolve::{Requirement, Resolution};

/// Lambda's limits: 50 MB for a zip uploaded directly, 250 MB for a function's code and
/// layers unzipped.
pub const MAX_ZIPPED: u64 = 50 * 1024 * 1024;
pub const MAX_UNZIPPED: u64 = 250 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct DepsOptions {
    pub target: Target,
    pub installer: Installer,
    /// The environment whose installed distributions answer for undeclared imports.
    pub env_python: String,
    /// One layer per dependency set (default), or everything in each function's zip.
    pub layers: bool,
    /// The in-process transport runs functions with the package's own `sys.path` and
    /// working directory (default), not this environment's (`--host-env`).
    pub package_view: bool,
    /// Bytes of data files one function may carry.
    pub data_limit: u64,
}

/// The stage: finds and builds the dependencies, puts them into the output and says
/// what it did in the report.
pub fn apply(compiled: &mut Compiled, options: &DepsOptions) -> Result<Dependencies, DepsError> {
    let mut deps = build(compiled, options)?;
    let dir = program_dir(&compiled.parsed.source.path).to_owned();
    deps.data = data::collect(compiled, &dir, options.data_limit).map_err(DepsError::Declared)?;
    attach(compiled, &deps, options.layers, !options.package_view)?;
    let file_warnings = unknown_file_warnings(compiled);
    let report = &mut compiled.report;
    for unit in &mut report.units {
        let (Some(package), Some(function)) = (&mut unit.package, deps.functions.get(&unit.name))
        else {
            continue;
        };
        package.requirements = function
            .requirements
            .iter()
            .map(|r| format!("{} ({})", r.spec, r.from))
            .collect();
        package.layer = if options.layers {
            function.layer.clone()
        } else {
            Some("vendored".into())
        };
    }
    for unit in &mut report.units {
        if let (Some(package), Some(files)) = (&mut unit.package, deps.data.get(&unit.name)) {
            package.data_files = files.iter().map(|f| f.relative.clone()).collect();
        }
    }
    report.layers = deps
        .layers
        .values()
        .map(|layer| crate::report::LayerReport {
            hash: layer.hash.clone(),
            requirements: layer.requirements.clone(),
            unzipped_size: layer.unzipped_size,
            cached: layer.cached,
            installer: options.installer.name().into(),
            packages: layer.packages.clone(),
        })
        .collect();
    report.dependency_warnings = deps.warnings.clone();
    report.dependency_warnings.extend(file_warnings);
    Ok(deps)
}

/// What the stage found and built for one program.
#[derive(Debug)]
pub struct Dependencies {
    pub target: Target,
    /// Per moved unit: the data files beside the program that it reads.
    pub data: BTreeMap<String, Vec<data::DataFile>>,
    /// Per moved unit: the requirements it needs and the layer holding them.
    pub functions: BTreeMap<String, FunctionDeps>,
    pub layers: BTreeMap<String, Layer>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FunctionDeps {
    pub requirements: Vec<Requirement>,
    /// The third-party modules it imports.
    pub modules: Vec<String>,
    pub layer: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error("{}", .0.join("\n"))]
    Unresolved(Vec<String>),
    #[error("{0}")]
    Declared(String),
    #[error("{}: error: cannot build the dependencies of {functions}: {source}", .path.display())]
    Install {
        path: PathBuf,
        functions: String,
        source: Box<install::InstallError>,
    },
    #[error("{0}")]
    TooLarge(String),
}

/// A warning for each file read that could not travel, with its line: the function
/// reading it stays local (its reason says the same).
fn unknown_file_warnings(compiled: &Compiled) -> Vec<String> {
    let path = compiled.parsed.source.path.display();
    let kept_local: BTreeSet<&str> = compiled
        .plan
        .units
        .iter()
        .filter(|u| matches!(u.decision, crate::plan::Decision::KeptLocal { .. }))
        .map(|u| u.name.as_str())
        .collect();
    let functions = compiled
        .facts
        .functions
        .iter()
        .map(|f| (&f.name, &f.effects));
    let classes = compiled.facts.classes.iter().map(|c| (&c.name, &c.effects));
    let mut warnings = Vec::new();
    for (name, effects) in functions.chain(classes) {
        if !kept_local.contains(name.as_str()) {
            continue;
        }
        for (kind, line) in effects {
            let what = match kind {
                crate::analysis::EffectKind::OpensUnknownFile => {
                    "a path computed at run time (or absolute)"
                }
                crate::analysis::EffectKind::OpensMissingFile => {
                    "a file that does not exist beside the program now"
                }
                _ => continue,
            };
            warnings.push(format!(
                "{path}:{line}: warning: `{name}` opens {what}, which cannot travel with a cloud function, so it stays local; write the path as a literal relative to the program (a file that exists) to move it"
            ));
        }
    }
    warnings
}

/// An interpreter as `lambada run` uses it.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// The Lambda runtime name of its version: `python3.11` for a Python 3.11.
    pub runtime: String,
    /// Its real executable (`sys.executable`): a pyenv shim on PATH costs ~90 ms at
    /// every start, and workers must run the very same interpreter as the program.
    pub executable: String,
}

/// Asks `python` for its version and its real executable.
pub fn interpreter(python: &str) -> Result<Interpreter, String> {
    let output = std::process::Command::new(python)
        .args(["-c", "import sys; print('python%d.%d' % sys.version_info[:2]); print(sys.executable)"])
        .output()
        .map_err(|e| format!("lambada: error: cannot start {python}: {e}; pass --python with the interpreter to use"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    match (output.status.success(), lines.next(), lines.next()) {
        (true, Some(runtime), executable) => Ok(Interpreter {
            runtime: runtime.trim().to_owned(),
            executable: executable
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .unwrap_or(python)
                .to_owned(),
        }),
        _ => Err(format!(
            "lambada: error: {python} failed to report its version"
        )),
    }
}

/// An import found in code a cloud function carries.
#[derive(Debug, Clone)]
struct Found {
    file: PathBuf,
    import: scan::Import,
}

/// Finds, resolves and builds the third-party dependencies of every moved unit.
pub fn build(compiled: &Compiled, options: &DepsOptions) -> Result<Dependencies, DepsError> {
    let program = &compiled.parsed.source.path;
    let dir = program_dir(program);
    let version = options.target.python;
    let runtime = format!("python{}.{}", version.0, version.1);
    let local_names: BTreeSet<&str> = compiled
        .facts
        .local_modules
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let local_imports = local_module_imports(compiled, dir);

    // Every import each unit's package makes, from its slice and its local modules.
    let mut units: Vec<(String, Vec<Found>)> = Vec::new();
    for (unit, movement) in compiled.plan.moved() {
        let stmts = movement.slice.iter().map(|&i| &compiled.parsed.ast.body[i]);
        let mut found: Vec<Found> = scan::imports(stmts, &compiled.parsed.source.text)
            .into_iter()
            .map(|import| Found {
                file: program.clone(),
                import,
            })
            .collect();
        for name in &movement.local_modules {
            found.extend(
                local_imports
                    .get(name.as_str())
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        units.push((unit.name.clone(), found));
    }

    // Standard modules the target lacks are errors; the rest of the non-standard,
    // non-local imports are third-party.
    let mut errors = Vec::new();
    let mut third_party: BTreeSet<String> = BTreeSet::new();
    for (unit, found) in &units {
        for f in found {
            let top = f.import.top.as_str();
            if local_names.contains(top) || top == crate::codegen::RUNTIME_DIR {
                continue;
            }
            if let Some(last) = stdlib::removed_after(version, top) {
                if !f.import.optional {
                    errors.push(format!(
                        "{}:{}:{}: error: `{top}` (imported by cloud function `{unit}`) was removed from the standard library after Python {}.{}; the function runs on {runtime}: replace it, or choose an older runtime with --runtime",
                        f.file.display(), f.import.line, f.import.column, last.0, last.1
                    ));
                }
                continue;
            }
            if !stdlib::contains(version, top) {
                third_party.insert(top.to_owned());
            }
        }
    }
    let mut deps = Dependencies {
        target: options.target,
        data: BTreeMap::new(),
        functions: BTreeMap::new(),
        layers: BTreeMap::new(),
        warnings: Vec::new(),
    };
    if third_party.is_empty() {
        return if errors.is_empty() {
            Ok(deps)
        } else {
            Err(DepsError::Unresolved(errors))
        };
    }

    let declared = resolve::declared(dir).map_err(DepsError::Declared)?;
    deps.warnings.extend(declared.warnings.iter().cloned());
    let names: Vec<String> = third_party.iter().cloned().collect();
    let env =
        resolve::query_environment(&options.env_python, &names).map_err(DepsError::Declared)?;
    let resolutions: BTreeMap<&str, Resolution> = third_party
        .iter()
        .map(|top| (top.as_str(), resolve::resolve(top, &declared, &env)))
        .collect();

    // Each unit's requirement set.
    for (unit, found) in &units {
        let mut requirements: BTreeSet<Requirement> = BTreeSet::new();
        let mut modules: BTreeSet<String> = BTreeSet::new();
        for f in found {
            let top = f.import.top.as_str();
            let Some(resolution) = resolutions.get(top) else {
                continue;
            };
            let at = format!("{}:{}:{}", f.file.display(), f.import.line, f.import.column);
            match resolution {
                Resolution::Provided(requirement) => {
                    requirements.insert(requirement.clone());
                    modules.insert(top.to_owned());
                }
                _ if f.import.optional => deps.warnings.push(format!(
                    "{at}: warning: `{top}` is not available to cloud function `{unit}`; its import is guarded, so the function runs without it there"
                )),
                Resolution::Ambiguous(dists) => errors.push(format!(
                    "{at}: error: `{top}` (imported by cloud function `{unit}`) is provided by several installed distributions ({}); list the one it needs in requirements.txt",
                    dists.join(", ")
                )),
                Resolution::Missing { found_here: Some(origin) } => errors.push(format!(
                    "{at}: error: `{top}` (imported by cloud function `{unit}`) is importable here ({origin}) but no installed distribution provides it, so it cannot be built for the cloud; add its distribution to requirements.txt, or put the module beside {}",
                    program.display()
                )),
                Resolution::Missing { found_here: None } => errors.push(format!(
                    "{at}: error: `{top}` (imported by cloud function `{unit}`) is not in {runtime}'s standard library, not a module beside {}, and no requirements.txt, pyproject.toml or installed distribution provides it; add its distribution to requirements.txt (or install it), or guard the import with try/except ImportError",
                    program.display()
                )),
            }
        }
        if !requirements.is_empty() {
            deps.functions.insert(
                unit.clone(),
                FunctionDeps {
                    requirements: requirements.into_iter().collect(),
                    modules: modules.into_iter().collect(),
                    layer: None,
                },
            );
        }
    }
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        return Err(DepsError::Unresolved(errors));
    }

    // One installation per distinct set.
    let mut sets: BTreeMap<Vec<Requirement>, Vec<String>> = BTreeMap::new();
    for (unit, function) in &deps.functions {
        sets.entry(function.requirements.clone())
            .or_default()
            .push(unit.clone());
    }
    for (requirements, users) in sets {
        let layer = options
            .installer
            .layer(&requirements, options.target)
            .map_err(|source| DepsError::Install {
                path: program.clone(),
                functions: users
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                source: Box::new(source),
            })?;
        for user in &users {
            let function = deps
                .functions
                .get_mut(user)
                .expect("users come from the functions");
            for module in &function.modules {
                if !provides(&layer.site_dir(), module) {
                    let requirement = requirements.iter().find(|r| {
                        resolutions
                            .get(module.as_str())
                            .is_some_and(|res| matches!(res, Resolution::Provided(p) if p == *r))
                    });
                    errors.push(format!(
                        "{}: error: `{module}` (imported by cloud function `{user}`): {} was installed for {} but provides no module `{module}`; list the distribution that does in requirements.txt",
                        program.display(),
                        requirement.map_or_else(|| "its requirement".to_owned(), |r| format!("`{}` ({})", r.spec, r.from)),
                        options.target.describe()
                    ));
                }
            }
            function.layer = Some(layer.hash.clone());
        }
        deps.layers.insert(layer.hash.clone(), layer);
    }
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        return Err(DepsError::Unresolved(errors));
    }
    Ok(deps)
}

/// Imports of each local module's files, by module name.
fn local_module_imports<'c>(compiled: &'c Compiled, dir: &Path) -> BTreeMap<&'c str, Vec<Found>> {
    let mut imports = BTreeMap::new();
    for module in &compiled.facts.local_modules {
        let mut found = Vec::new();
        for (relative, bytes) in &module.files {
            let Ok(text) = std::str::from_utf8(bytes) else {
                continue;
            };
            let Ok(parsed) = ruff_python_parser::parse_module(text) else {
                continue;
            };
            found.extend(
                scan::imports(&parsed.syntax().body, text)
                    .into_iter()
                    .map(|import| Found {
                        file: dir.join(relative),
                        import,
                    }),
            );
        }
        imports.insert(module.name.as_str(), found);
    }
    imports
}

/// Whether an installed tree has a top-level module or package `name`.
fn provides(site: &Path, name: &str) -> bool {
    if site.join(name).is_dir() || site.join(format!("{name}.py")).is_file() {
        return true;
    }
    // Extension modules: name.cpython-312-x86_64-linux-gnu.so, name.abi3.so, name.so.
    std::fs::read_dir(site)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            file.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('.') && rest.ends_with(".so"))
        })
}

fn program_dir(program: &Path) -> &Path {
    match program.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Puts the dependencies into the output: layer zips beside the functions (each
/// function naming its layer in the manifest), or, with `layers` off, the installed
/// files inside each function's zip. Then checks Lambda's size limits.
pub fn attach(
    compiled: &mut Compiled,
    deps: &Dependencies,
    layers: bool,
    host_env: bool,
) -> Result<(), DepsError> {
    let output = &mut compiled.output;
    // Fission runs the deploy archive as it is (its Python environment installs nothing
    // from it): the packages travel inside each function's zip, as with --no-layers.
    let layers = layers && output.manifest.provider != crate::providers::ProviderKind::Fission;
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| DepsError::Declared(format!("cannot read {}: {e}", path.display())))
    };
    let layer_of = |key: &str| {
        deps.functions
            .get(key)
            .and_then(|f| f.layer.as_ref())
            .map(|hash| &deps.layers[hash])
    };
    // The manifest first: which layers and data files each function has.
    output.manifest.host_env = host_env;
    for (key, entry) in output.manifest.functions.iter_mut() {
        entry.data_files = deps
            .data
            .get(key)
            .map(|files| files.iter().map(|f| f.relative.clone()).collect())
            .unwrap_or_default();
        entry.layers = match layer_of(key) {
            Some(layer) if layers => vec![layer.hash.clone()],
            _ => Vec::new(),
        };
    }
    if layers {
        let python = format!("{}.{}", deps.target.python.0, deps.target.python.1);
        for (hash, layer) in &deps.layers {
            let zip = read(&layer.zip_path())?;
            let path = format!("layers/{hash}.zip");
            output.manifest.layers.insert(
                hash.clone(),
                LayerEntry {
                    zip: path.clone(),
                    code_sha256: package::code_sha256(&zip),
                    requirements: layer.requirements.clone(),
                    unzipped_size: layer.unzipped_size,
                    python: python.clone(),
                },
            );
            output.files.insert(PathBuf::from(path), zip.into());
        }
    }
    // Then each package: its manifest says the same of the functions it knows, its
    // data files and (with --no-layers) its packages join it, and it is zipped again.
    let mut too_large = Vec::new();
    let keys: Vec<String> = output.manifest.functions.keys().cloned().collect();
    for key in keys {
        let prefix = format!("functions/{key}/");
        let mut files: BTreeMap<String, Bytes> = output
            .files
            .iter()
            .filter_map(|(path, bytes)| {
                let name = package::path_key(path);
                name.strip_prefix(&prefix)
                    .map(|n| (n.to_owned(), bytes.clone()))
            })
            .collect();
        let mut added: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(bytes) = files.get(package::MANIFEST_FILE) {
            let updated = package_manifest(bytes, &output.manifest).map_err(DepsError::Declared)?;
            if updated.as_slice() != bytes.as_ref() {
                files.insert(package::MANIFEST_FILE.into(), Cow::Owned(updated.clone()));
                output.files.insert(
                    PathBuf::from(format!("{prefix}{}", package::MANIFEST_FILE)),
                    Cow::Owned(updated),
                );
                added.push((String::new(), Vec::new()));
            }
        }
        // The platform installs what the package's requirements.txt (gcf, azure) names
        // when it builds the function: the function's requirements join its framework.
        let requirements = deps.functions.get(&key).map(|f| f.requirements.as_slice());
        if let (Some(bytes), Some(requirements)) = (files.get(REQUIREMENTS_FILE), requirements)
            && !requirements.is_empty()
        {
            let text = with_requirements(bytes, requirements);
            let path = PathBuf::from(format!("{prefix}{REQUIREMENTS_FILE}"));
            output.files.insert(path, Cow::Owned(text.clone()));
            files.insert(REQUIREMENTS_FILE.into(), Cow::Owned(text));
            added.push((String::new(), Vec::new()));
        }
        for file in deps.data.get(&key).into_iter().flatten() {
            added.push((file.relative.clone(), read(&file.path)?));
        }
        let layer = layer_of(&key);
        if let (Some(layer), false) = (layer, layers) {
            let site = layer.site_dir();
            let vendored = install::files_under(&site)
                .map_err(|e| DepsError::Declared(format!("cannot read {}: {e}", site.display())))?;
            for (name, path) in vendored {
                added.push((name, read(&path)?));
            }
        }
        if added.is_empty() {
            continue;
        }
        // The package's own files (handler, runtime, local modules) win over a data
        // file or a vendored package's file of the same name.
        for (name, bytes) in added {
            if name.is_empty() || files.contains_key(&name) {
                continue;
            }
            output.files.insert(
                PathBuf::from(format!("{prefix}{name}")),
                Cow::Owned(bytes.clone()),
            );
            files.insert(name, Cow::Owned(bytes));
        }
        let code_size: u64 = files.values().map(|b| b.len() as u64).sum();
        let zip = package::zip_bytes(&files);
        let entry = output
            .manifest
            .functions
            .get_mut(&key)
            .expect("keys come from the manifest");
        entry.code_sha256 = Some(package::code_sha256(&zip));
        let zipped = zip.len() as u64;
        output
            .files
            .insert(PathBuf::from(format!("functions/{key}.zip")), zip.into());
        let unzipped = code_size
            + if layers {
                layer.map_or(0, |l| l.unzipped_size)
            } else {
                0
            };
        if zipped > MAX_ZIPPED || unzipped > MAX_UNZIPPED {
            too_large.push(size_message(&key, zipped, unzipped, layer));
        }
    }
    if !too_large.is_empty() {
        return Err(DepsError::TooLarge(too_large.join("\n")));
    }
    output.files.insert(
        PathBuf::from(package::MANIFEST_FILE),
        package::to_json(&output.manifest).into(),
    );
    Ok(())
}

/// The file a gcf or azure package names its pip requirements in.
const REQUIREMENTS_FILE: &str = "requirements.txt";

/// A package's requirements.txt (the platform's framework line) with the function's
/// third-party requirements after it, each with where it came from.
fn with_requirements(text: &[u8], requirements: &[Requirement]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(text).into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# What the function imports from outside the standard library:\n");
    for requirement in requirements {
        text.push_str(&format!("{}  # {}\n", requirement.spec, requirement.from));
    }
    text.into_bytes()
}

/// A package's manifest with what the top manifest now says of its functions: layers,
/// data files, the layers they name, the local view.
fn package_manifest(bytes: &[u8], top: &package::Manifest) -> Result<Vec<u8>, String> {
    let mut manifest: package::Manifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("a package manifest lambada wrote does not read back: {e}"))?;
    manifest.host_env = top.host_env;
    for (key, entry) in manifest.functions.iter_mut() {
        if let Some(top_entry) = top.functions.get(key) {
            entry.layers = top_entry.layers.clone();
            entry.data_files = top_entry.data_files.clone();
        }
    }
    let used: BTreeSet<&String> = manifest
        .functions
        .values()
        .flat_map(|e| e.layers.iter())
        .collect();
    manifest.layers = top
        .layers
        .iter()
        .filter(|(hash, _)| used.contains(hash))
        .map(|(hash, entry)| (hash.clone(), entry.clone()))
        .collect();
    Ok(package::to_json(&manifest))
}

fn size_message(key: &str, zipped: u64, unzipped: u64, layer: Option<&Layer>) -> String {
    let mb = |bytes: u64| format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0));
    let largest: Vec<String> = layer
        .map(|l| l.packages.as_slice())
        .unwrap_or_default()
        .iter()
        .take(5)
        .map(|(name, size)| format!("{name} {}", mb(*size)))
        .collect();
    let over = if zipped > MAX_ZIPPED {
        format!(
            "its zip is {}, over Lambda's {} limit for a direct upload",
            mb(zipped),
            mb(MAX_ZIPPED)
        )
    } else {
        format!(
            "its code and layers unzipped are {}, over Lambda's {} limit",
            mb(unzipped),
            mb(MAX_UNZIPPED)
        )
    };
    format!(
        "error: cloud function `{key}` is too large: {over}. Largest packages: {}. Drop what it does not import (or use a lighter package, e.g. opencv-python-headless for opencv-python), or keep the function local with a cheaper import",
        largest.join(", ")
    )
}
