//! Installs a dependency set for the target platform, not for this machine, once.
//!
//! `pip install --target` (or `uv pip install`, when uv is on PATH) with Lambda's
//! platform tags, CPython at the runtime's version and binary wheels only. Pure-Python
//! packages that publish only an sdist are built into wheels here first. The result
//! goes to the cache under the hash of the set and the target: an unchanged set is
//! never installed again. Cache entries are complete or absent: built in a scratch
//! directory, renamed into place, and marked done by a file written last.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::resolve::Requirement;

/// The machine a function runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// CPython `(major, minor)`.
    pub python: (u32, u32),
    pub arch: Arch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
}

impl Target {
    /// From a Lambda runtime name such as `python3.12`.
    pub fn from_runtime(runtime: &str, arch: Arch) -> Option<Target> {
        let version = runtime.strip_prefix("python")?;
        let (major, minor) = version.split_once('.')?;
        Some(Target {
            python: (major.parse().ok()?, minor.parse().ok()?),
            arch,
        })
    }

    fn machine(self) -> &'static str {
        match self.arch {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    /// The newest glibc of the runtime's OS: Amazon Linux 2023 (glibc 2.34) from
    /// python3.12, Amazon Linux 2 (glibc 2.26) before.
    fn glibc_minor(self) -> u32 {
        if self.python >= (3, 12) { 34 } else { 26 }
    }

    /// Every platform tag the runtime accepts, newest first. pip does not expand
    /// `manylinux_2_X` tags to older ones by itself, so all are listed.
    pub fn platforms(self) -> Vec<String> {
        let machine = self.machine();
        let mut tags: Vec<String> = (17..=self.glibc_minor())
            .rev()
            .map(|minor| format!("manylinux_2_{minor}_{machine}"))
            .collect();
        tags.push(format!("manylinux2014_{machine}"));
        tags
    }

    /// uv's name for the platform: it knows manylinux_2_17 (as `manylinux2014`) and
    /// 2_28 and later, each accepting the older tags too.
    fn uv_platform(self) -> String {
        let glibc = self.glibc_minor();
        if glibc >= 28 {
            format!("{}-manylinux_2_{glibc}", self.machine())
        } else {
            format!("{}-manylinux2014", self.machine())
        }
    }

    pub fn describe(self) -> String {
        format!(
            "CPython {}.{} on manylinux (glibc 2.{}) {}",
            self.python.0,
            self.python.1,
            self.glibc_minor(),
            self.machine()
        )
    }
}

/// How packages are fetched.
#[derive(Debug, Clone, Default)]
pub struct IndexOptions {
    /// Directories (or URLs) of wheels, searched as pip's `--find-links`.
    pub find_links: Vec<String>,
    /// Use only `find_links`, never the package index.
    pub no_index: bool,
}

#[derive(Debug, Clone)]
pub struct Installer {
    /// Interpreter whose pip installs (and builds sdists), when uv is not used.
    pub python: String,
    /// `uv`, when found and not disabled.
    pub uv: Option<PathBuf>,
    pub cache: PathBuf,
    pub index: IndexOptions,
}

impl Installer {
    /// uv when it is on PATH (and `LAMBADA_INSTALLER` is not `pip`), else pip.
    pub fn new(python: String, cache: PathBuf, index: IndexOptions) -> Installer {
        let wants_pip = std::env::var("LAMBADA_INSTALLER").is_ok_and(|v| v == "pip");
        let uv = (!wants_pip).then(|| find_on_path("uv")).flatten();
        Installer {
            python,
            uv,
            cache,
            index,
        }
    }

    pub fn name(&self) -> &'static str {
        if self.uv.is_some() { "uv pip" } else { "pip" }
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// The cache directory: `$LAMBADA_CACHE_DIR`, else `$XDG_CACHE_HOME/lambada`, else
/// `~/.cache/lambada`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAMBADA_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("lambada");
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache").join("lambada"))
        .unwrap_or_else(|| std::env::temp_dir().join("lambada-cache"))
}

/// An installed dependency set, as a Lambda layer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// Hash of the requirements and target: names the cache entry and the layer.
    pub hash: String,
    pub requirements: Vec<String>,
    /// Bytes of the installed files.
    pub unzipped_size: u64,
    /// Installed top-level packages with their sizes, largest first.
    pub packages: Vec<(String, u64)>,
    /// Whether this build found it in the cache (no installer run).
    #[serde(skip)]
    pub cached: bool,
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Layer {
    /// The installed files, laid out as a layer: `python/<site-packages>`.
    pub fn site_dir(&self) -> PathBuf {
        self.dir.join("python")
    }

    /// The layer zip (`python/...`), built once with the installation.
    pub fn zip_path(&self) -> PathBuf {
        self.dir.with_extension("zip")
    }
}

/// Why a set could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "no wheel of `{package}` for {target}, Lambda's platform, and no pure-Python sdist to build one from; pin a version that publishes a manylinux wheel, or drop the package"
    )]
    NoWheel { package: String, target: String },
    #[error(
        "`{package}` has only an sdist, and it builds a wheel for this machine ({wheel}), not a pure-Python one; it cannot run on {target}"
    )]
    PlatformSdist {
        package: String,
        wheel: String,
        target: String,
    },
    #[error("{installer} failed installing {requirements}:\n{output}")]
    Failed {
        installer: String,
        requirements: String,
        output: String,
    },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn cache_error(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Cache {
        path: path.to_owned(),
        source,
    }
}

/// The cache key of a set: requirements, target and where packages come from.
pub fn set_hash(requirements: &[Requirement], target: Target, index: &IndexOptions) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"lambada-layer-1\n");
    hasher.update(format!("{target:?}\n").as_bytes());
    let mut specs: Vec<&str> = requirements.iter().map(|r| r.spec.as_str()).collect();
    specs.sort_unstable();
    for spec in specs {
        hasher.update(spec.as_bytes());
        hasher.update(b"\n");
    }
    for link in &index.find_links {
        hasher.update(b"find-links ");
        hasher.update(link.as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(if index.no_index {
        "no-index\n"
    } else {
        "index\n"
    });
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Installer {
    /// The layer of `requirements` for `target`: from the cache, or installed now.
    pub fn layer(
        &self,
        requirements: &[Requirement],
        target: Target,
    ) -> Result<Layer, InstallError> {
        let hash = set_hash(requirements, target, &self.index);
        let layers = self.cache.join("layers");
        let dir = layers.join(&hash);
        let done = layers.join(format!("{hash}.json"));
        if let Ok(bytes) = std::fs::read(&done)
            && let Ok(mut layer) = serde_json::from_slice::<Layer>(&bytes)
            && dir.is_dir()
        {
            layer.cached = true;
            layer.dir = dir;
            return Ok(layer);
        }
        std::fs::create_dir_all(&layers).map_err(cache_error(&layers))?;
        let scratch = tempfile::Builder::new()
            .prefix(&format!(".{hash}."))
            .tempdir_in(&layers)
            .map_err(cache_error(&layers))?;
        let site = scratch.path().join("python");
        self.install(requirements, target, &site)?;
        clean(&site).map_err(cache_error(&site))?;
        let (unzipped_size, packages) = sizes(&site).map_err(cache_error(&site))?;
        let zip = layer_zip(scratch.path()).map_err(cache_error(scratch.path()))?;
        // Into place: the directory, then the zip, then the marker that says both are whole.
        let _ = std::fs::remove_dir_all(&dir);
        let staged = scratch.keep();
        std::fs::rename(&staged, &dir).map_err(cache_error(&dir))?;
        let mut specs: Vec<String> = requirements.iter().map(|r| r.spec.clone()).collect();
        specs.sort();
        let layer = Layer {
            hash: hash.clone(),
            requirements: specs,
            unzipped_size,
            packages,
            cached: false,
            dir: dir.clone(),
        };
        write_atomically(&layer.zip_path(), &zip)?;
        write_atomically(
            &done,
            &serde_json::to_vec_pretty(&layer).expect("layers serialise"),
        )?;
        Ok(layer)
    }

    fn install(
        &self,
        requirements: &[Requirement],
        target: Target,
        site: &Path,
    ) -> Result<(), InstallError> {
        // Wheels lambada built from pure-Python sdists, found again by later installs.
        let wheels = self.cache.join("sdist-wheels");
        let mut built: Vec<String> = Vec::new();
        loop {
            let links: Vec<String> = wheels
                .is_dir()
                .then(|| wheels.to_string_lossy().into_owned())
                .into_iter()
                .collect();
            let output = self.run_install(requirements, target, site, &links)?;
            if output.status.success() {
                return Ok(());
            }
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            match missing_wheel(&text) {
                Some(package) if !built.contains(&package) => {
                    self.build_pure_wheel(&package, target, &wheels)?;
                    built.push(package);
                }
                Some(package) => {
                    return Err(InstallError::NoWheel {
                        package,
                        target: target.describe(),
                    });
                }
                None => {
                    return Err(InstallError::Failed {
                        installer: self.name().into(),
                        requirements: requirements
                            .iter()
                            .map(|r| r.spec.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        output: text.trim().to_owned(),
                    });
                }
            }
        }
    }

    fn run_install(
        &self,
        requirements: &[Requirement],
        target: Target,
        site: &Path,
        extra_links: &[String],
    ) -> Result<std::process::Output, InstallError> {
        let version = format!("{}.{}", target.python.0, target.python.1);
        let mut command = match &self.uv {
            Some(uv) => {
                let mut command = Command::new(uv);
                command
                    .args(["pip", "install", "--quiet", "--target"])
                    .arg(site)
                    .args(["--python-version", &version])
                    .arg("--python-platform")
                    .arg(target.uv_platform())
                    .args(["--only-binary", ":all:"]);
                command
            }
            None => {
                let mut command = Command::new(&self.python);
                command
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .args(["--no-compile", "--no-warn-script-location", "--target"])
                    .arg(site)
                    .args(["--implementation", "cp", "--python-version", &version])
                    .arg("--only-binary=:all:");
                for platform in target.platforms() {
                    command.args(["--platform", &platform]);
                }
                command
            }
        };
        for link in self.index.find_links.iter().chain(extra_links) {
            command.args(["--find-links", link]);
        }
        if self.index.no_index {
            command.arg("--no-index");
        }
        command.args(requirements.iter().map(|r| r.spec.as_str()));
        let program = if self.uv.is_some() {
            "uv"
        } else {
            self.python.as_str()
        };
        command.output().map_err(|source| InstallError::Spawn {
            program: program.into(),
            source,
        })
    }

    /// Builds `package` from its sdist with this machine's pip; keeps the wheel only if
    /// it is pure Python (it then runs anywhere).
    fn build_pure_wheel(
        &self,
        package: &str,
        target: Target,
        wheels: &Path,
    ) -> Result<PathBuf, InstallError> {
        std::fs::create_dir_all(wheels).map_err(cache_error(wheels))?;
        let scratch = tempfile::tempdir_in(wheels).map_err(cache_error(wheels))?;
        let mut command = Command::new(&self.python);
        command
            .args([
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
            ])
            .args(["--no-binary", package, "--wheel-dir"])
            .arg(scratch.path());
        for link in &self.index.find_links {
            command.args(["--find-links", link]);
        }
        if self.index.no_index {
            command.arg("--no-index");
        }
        command.arg(package);
        let output = command.output().map_err(|source| InstallError::Spawn {
            program: self.python.clone(),
            source,
        })?;
        let no_wheel = || InstallError::NoWheel {
            package: package.to_owned(),
            target: target.describe(),
        };
        if !output.status.success() {
            return Err(no_wheel());
        }
        let built = std::fs::read_dir(scratch.path())
            .map_err(cache_error(scratch.path()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .ok_or_else(no_wheel)?;
        let name = built
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with("-none-any.whl") {
            return Err(InstallError::PlatformSdist {
                package: package.to_owned(),
                wheel: name,
                target: target.describe(),
            });
        }
        let kept = wheels.join(&name);
        std::fs::rename(&built, &kept).map_err(cache_error(&kept))?;
        Ok(kept)
    }
}

/// The package pip (or uv) found no wheel for, from its error output.
fn missing_wheel(output: &str) -> Option<String> {
    for line in output.lines() {
        let line = line.trim();
        for marker in [
            "No matching distribution found for ",
            "Could not find a version that satisfies the requirement ",
        ] {
            if let Some(rest) = line.split(marker).nth(1) {
                let spec = rest.split_whitespace().next().unwrap_or(rest);
                let name_end = spec
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                    .unwrap_or(spec.len());
                return Some(spec[..name_end].to_owned());
            }
        }
        // uv: "Because <name> has no wheels with a matching platform tag ...".
        if let Some(at) = line
            .find(" has no wheels")
            .or_else(|| line.find(" has no usable wheels"))
        {
            let before = &line[..at];
            let name = before.rsplit(' ').next().unwrap_or(before);
            let name = name.split(['=', '<', '>']).next().unwrap_or(name);
            if !name.is_empty() {
                return Some(name.to_owned());
            }
        }
    }
    None
}

/// Removes what makes installs differ between machines and builds: byte code, scripts
/// with this machine's interpreter path in their shebang, and installer records.
fn clean(site: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(site.join("bin"));
    let mut pending = vec![site.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if name == "__pycache__" {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    pending.push(path);
                }
            } else if name.ends_with(".pyc")
                || (dir.extension().is_some_and(|e| e == "dist-info")
                    && matches!(name.as_ref(), "direct_url.json" | "INSTALLER" | "REQUESTED"))
            {
                std::fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

/// Total bytes, and bytes per top-level package (its `.dist-info` and `.libs` counted
/// with it), largest first.
fn sizes(site: &Path) -> std::io::Result<(u64, Vec<(String, u64)>)> {
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    for entry in std::fs::read_dir(site)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = package_key(&name);
        *per.entry(key).or_default() += tree_size(&entry.path())?;
    }
    let total = per.values().sum();
    let mut packages: Vec<(String, u64)> = per.into_iter().collect();
    packages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok((total, packages))
}

fn package_key(entry: &str) -> String {
    let stem = entry
        .strip_suffix(".dist-info")
        .map(|s| s.split('-').next().unwrap_or(s))
        .or_else(|| entry.strip_suffix(".libs"))
        .or_else(|| entry.strip_suffix(".py"))
        .unwrap_or(entry);
    let stem = stem.split('.').next().unwrap_or(stem);
    super::resolve::normalize(stem)
}

pub fn tree_size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        total += tree_size(&entry?.path())?;
    }
    Ok(total)
}

/// Every file under `root`, as sorted `(relative path with '/', absolute path)`.
pub fn files_under(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                let name = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((name, path));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The layer zip of a directory holding `python/`: entries sorted, fixed timestamps,
/// executables keep their bit, so the same install gives the same bytes.
fn layer_zip(root: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, path) in files_under(root)? {
        let mode = std::fs::metadata(&path)?.permissions().mode();
        let options = crate::package::zip_options().unix_permissions(if mode & 0o111 != 0 {
            0o755
        } else {
            0o644
        });
        writer
            .start_file(name, options)
            .map_err(std::io::Error::other)?;
        writer.write_all(&std::fs::read(&path)?)?;
    }
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(cache_error(dir))?;
    file.write_all(bytes).map_err(cache_error(path))?;
    file.persist(path).map_err(|e| InstallError::Cache {
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_follow_the_runtime_os() {
        let new = Target::from_runtime("python3.12", Arch::X86_64).unwrap();
        let tags = new.platforms();
        assert_eq!(tags.first().unwrap(), "manylinux_2_34_x86_64");
        assert!(tags.contains(&"manylinux_2_17_x86_64".to_owned()));
        assert_eq!(tags.last().unwrap(), "manylinux2014_x86_64");
        let old = Target::from_runtime("python3.11", Arch::Arm64).unwrap();
        assert_eq!(old.platforms().first().unwrap(), "manylinux_2_26_aarch64");
        assert_eq!(new.uv_platform(), "x86_64-manylinux_2_34");
        assert_eq!(old.uv_platform(), "aarch64-manylinux2014");
        assert_eq!(Target::from_runtime("nodejs20.x", Arch::X86_64), None);
    }

    #[test]
    fn pip_errors_name_the_package_without_a_wheel() {
        let pip = "ERROR: Could not find a version that satisfies the requirement tinysdist==1.0 (from versions: none)\nERROR: No matching distribution found for tinysdist==1.0";
        assert_eq!(missing_wheel(pip).as_deref(), Some("tinysdist"));
        assert_eq!(missing_wheel("ERROR: something else"), None);
        let uv = "  ╰─▶ Because tinysdist==1.0 has no usable wheels and you require\n      tinysdist==1.0, we can conclude that your requirements are\n";
        assert_eq!(missing_wheel(uv).as_deref(), Some("tinysdist"));
    }

    #[test]
    fn package_sizes_group_metadata_with_the_package() {
        assert_eq!(package_key("numpy"), "numpy");
        assert_eq!(package_key("numpy-2.1.0.dist-info"), "numpy");
        assert_eq!(package_key("numpy.libs"), "numpy");
        assert_eq!(package_key("six.py"), "six");
        assert_eq!(
            package_key("typing_extensions-4.12.dist-info"),
            "typing-extensions"
        );
    }

    #[test]
    fn the_hash_depends_on_the_set_not_its_order() {
        let req = |spec: &str| Requirement {
            name: spec.into(),
            spec: spec.into(),
            from: "installed".into(),
        };
        let target = Target::from_runtime("python3.12", Arch::X86_64).unwrap();
        let index = IndexOptions::default();
        let a = set_hash(&[req("a"), req("b")], target, &index);
        assert_eq!(a, set_hash(&[req("b"), req("a")], target, &index));
        assert_ne!(a, set_hash(&[req("a")], target, &index));
        let arm = Target {
            arch: Arch::Arm64,
            ..target
        };
        assert_ne!(a, set_hash(&[req("a"), req("b")], arm, &index));
    }
}
