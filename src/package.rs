//! Stage 6: the output directory, built in memory, then written all at once.
//!
//! For `app.py`: the rewritten driver, the runtime package, the local modules, one
//! package per cloud function (`functions/<key>/` and a deterministic
//! `functions/<key>.zip`), and the manifest `lambada.json`. Same input, same bytes:
//! entries are sorted, zip timestamps and permissions fixed, maps ordered.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::analysis::ModuleFacts;
use crate::codegen::{self, HandlerModule};
use crate::parse::ParsedModule;
use crate::plan::{Decision, Plan, Readonly, RemoteCalls, UnitKind};
use crate::providers::{self, EntryPoint, ProviderKind};

pub const MANIFEST_FILE: &str = "lambada.json";

/// Concurrent invocations at most in a fan-out unless `--fanout` says otherwise (the
/// runtime's `fanout.DEFAULT_FANOUT`).
pub const DEFAULT_FANOUT: u32 = 64;

/// A file's contents.
pub type Bytes = Cow<'static, [u8]>;

/// The runtime package's files, borrowed from the binary.
fn runtime_files() -> impl Iterator<Item = (&'static str, Bytes)> {
    codegen::RUNTIME_FILES
        .iter()
        .map(|&(path, bytes)| (path, Cow::Borrowed(bytes)))
}

/// The files of one program's output directory, relative to it.
#[derive(Debug)]
pub struct Output {
    /// The directory name under the output root: the module name.
    pub name: String,
    /// Contents shared by many files (the runtime package) are borrowed, not copied.
    pub files: BTreeMap<PathBuf, Bytes>,
    pub manifest: Manifest,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Manifest {
    pub lambada: u32,
    pub module: String,
    pub transport: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub remote_calls: RemoteCalls,
    pub functions: BTreeMap<String, FunctionEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kept_local: BTreeMap<String, KeptLocal>,
    /// The in-process transport runs functions in this environment (`--host-env`)
    /// rather than with their package's own view.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_env: bool,
    /// Concurrent invocations at most in a fan-out, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<u32>,
    /// Third-party dependency layers by hash, shared by the functions naming them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layers: BTreeMap<String, LayerEntry>,
    /// The platform the functions are made for (`--provider`); absent for aws.
    #[serde(default, skip_serializing_if = "ProviderKind::is_aws")]
    pub provider: ProviderKind,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LayerEntry {
    /// The layer zip (`python/...`), relative to the output directory.
    pub zip: String,
    pub code_sha256: String,
    pub requirements: Vec<String>,
    pub unzipped_size: u64,
    /// The Python version (`3.12`) its packages were built for.
    pub python: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FunctionEntry {
    pub kind: UnitKind,
    pub function_name: String,
    pub handler: String,
    pub memory: u32,
    pub timeout: u32,
    pub globals_read: Vec<String>,
    pub globals_written: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    pub line: usize,
    /// Parameters the function only reads (a class: per method): the runtime skips
    /// their write-back comparison.
    #[serde(default)]
    pub readonly: Readonly,
    /// Hashes of the dependency layers the function runs with (see `Manifest::layers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// Files beside the program it reads, carried in its package at the same paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_files: Vec<String>,
    /// What the provider records of the function (`entry_point`, `route`...; see
    /// `providers::Provider::manifest_fields`).
    #[serde(flatten)]
    pub provider_fields: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct KeptLocal {
    pub reason: String,
    pub line: usize,
}

impl Output {
    /// Records the fan-out bound in the manifest the driver reads.
    pub fn set_fanout(&mut self, fanout: u32) {
        self.manifest.fanout = Some(fanout);
        self.files
            .insert(PathBuf::from(MANIFEST_FILE), to_json(&self.manifest).into());
    }
}

/// The Lambda function name of a moved unit: `<prefix><module>-<key>`, valid for
/// Lambda (`[A-Za-z0-9_-]{1,64}`) and stable across runs.
pub fn function_name(prefix: &str, module: &str, key: &str) -> String {
    let name = format!("{prefix}{module}-{key}");
    if name.len() <= 64 {
        return name;
    }
    // Too long: keep a readable start and make it unique with a hash of the whole.
    let digest = Sha256::digest(name.as_bytes());
    let suffix: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{suffix}", &name[..64 - 9])
}

/// True when `prefix` keeps function names valid for Lambda.
pub fn is_valid_prefix(prefix: &str) -> bool {
    prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Builds the whole output of one program in memory.
pub fn build(
    parsed: &ParsedModule,
    facts: &ModuleFacts,
    plan: &Plan,
    driver: String,
    prefix: &str,
    provider: ProviderKind,
) -> Output {
    let module = &facts.module;
    let platform = providers::provider(provider);
    let header = codegen::header(&codegen::file_name(parsed));
    let mut files: BTreeMap<PathBuf, Bytes> = BTreeMap::new();
    let mut manifest = Manifest {
        lambada: 1,
        module: module.clone(),
        transport: "inprocess".into(),
        endpoint: None,
        region: None,
        remote_calls: plan.options.remote_calls,
        functions: BTreeMap::new(),
        kept_local: BTreeMap::new(),
        host_env: false,
        fanout: None,
        layers: BTreeMap::new(),
        provider,
    };
    let entries: BTreeMap<String, FunctionEntry> = plan
        .moved()
        .map(|(unit, movement)| {
            let function_name = function_name(prefix, module, &unit.name);
            let provider_fields = platform.manifest_fields(&EntryPoint {
                key: &unit.name,
                function_name: &function_name,
                module,
                header: &header,
                memory: movement.memory,
                timeout: movement.timeout,
            });
            let entry = FunctionEntry {
                kind: unit.kind,
                function_name,
                handler: codegen::HANDLER.into(),
                memory: movement.memory,
                timeout: movement.timeout,
                globals_read: movement.globals_read.iter().cloned().collect(),
                globals_written: movement.globals_written.iter().cloned().collect(),
                code_sha256: None,
                zip: None,
                line: unit.line,
                readonly: movement.readonly.clone(),
                layers: Vec::new(),
                data_files: Vec::new(),
                provider_fields,
            };
            (unit.name.clone(), entry)
        })
        .collect();

    for (unit, movement) in plan.moved() {
        let key = &unit.name;
        let entry = &entries[key];
        let mut package: BTreeMap<String, Bytes> = BTreeMap::new();
        let handler = codegen::handler_module(
            parsed,
            facts,
            &HandlerModule {
                key,
                function_name: &entry.function_name,
                movement,
            },
        );
        let lines = codegen::handler_line_map(parsed, facts, movement, &handler);
        package.insert(codegen::HANDLER_FILE.into(), handler.into_bytes().into());
        package.insert(codegen::LINES_FILE.into(), lines.into_bytes().into());
        // The platform's entry point beside the shared handler module.
        let entry_point = EntryPoint {
            key,
            function_name: &entry.function_name,
            module,
            header: &header,
            memory: entry.memory,
            timeout: entry.timeout,
        };
        for (name, text) in platform.entry_files(&entry_point) {
            package.insert(name, text.into_bytes().into());
        }
        package.extend(runtime_files().map(|(path, bytes)| (path.to_owned(), bytes)));
        let package_manifest = Manifest {
            functions: movement
                .invokes
                .iter()
                .chain(std::iter::once(key))
                .filter_map(|k| entries.get(k).map(|e| (k.clone(), e.clone())))
                .collect(),
            kept_local: BTreeMap::new(),
            ..manifest.clone()
        };
        package.insert(MANIFEST_FILE.into(), to_json(&package_manifest).into());
        for local in &facts.local_modules {
            if movement.local_modules.contains(&local.name) {
                for (path, bytes) in &local.files {
                    package.insert(path_key(path), bytes.clone().into());
                }
            }
        }
        let zip = zip_bytes(&package);
        let mut entry = entry.clone();
        entry.code_sha256 = Some(code_sha256(&zip));
        entry.zip = Some(format!("functions/{key}.zip"));
        manifest.functions.insert(key.clone(), entry);
        files.insert(PathBuf::from(format!("functions/{key}.zip")), zip.into());
        for (name, bytes) in package {
            files.insert(PathBuf::from(format!("functions/{key}/{name}")), bytes);
        }
    }
    for unit in &plan.units {
        if let Decision::KeptLocal { reason } = &unit.decision {
            manifest.kept_local.insert(
                unit.name.clone(),
                KeptLocal {
                    reason: reason.clone(),
                    line: unit.line,
                },
            );
        }
    }
    for local in &facts.local_modules {
        for (path, bytes) in &local.files {
            files.insert(path.clone(), bytes.clone().into());
        }
    }
    files.insert(
        PathBuf::from(format!("{module}.py")),
        driver.into_bytes().into(),
    );
    files.extend(runtime_files().map(|(path, bytes)| (PathBuf::from(path), bytes)));
    files.insert(PathBuf::from(MANIFEST_FILE), to_json(&manifest).into());
    Output {
        name: module.clone(),
        files,
        manifest,
    }
}

pub fn path_key(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("manifests serialise");
    bytes.push(b'\n');
    bytes
}

pub fn zip_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
}

/// The runtime package as the first entries of every package zip, compressed once:
/// each zip copies the entries as they are instead of compressing the same files
/// again, and the SHA-256 of that common first part of every zip is computed once too.
struct RuntimeEntries {
    /// A zip holding only the runtime package.
    zip: Vec<u8>,
    /// The bytes every package zip starts with: the runtime entries' headers and data.
    prefix: Vec<u8>,
    /// SHA-256 state after hashing those bytes.
    prefix_hash: Sha256,
}

static RUNTIME_ENTRIES: LazyLock<RuntimeEntries> = LazyLock::new(|| {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for &(path, bytes) in codegen::RUNTIME_FILES {
        writer
            .start_file(path, zip_options())
            .and_then(|()| writer.write_all(bytes).map_err(Into::into))
            .expect("writing a zip into memory cannot fail");
    }
    let zip = writer
        .finish()
        .expect("writing a zip into memory cannot fail")
        .into_inner();
    // Where the entries end in a zip that starts with their copies.
    let copied = copy_runtime_first(zip::ZipWriter::new(Cursor::new(Vec::new())), &zip)
        .finish()
        .expect("writing a zip into memory cannot fail")
        .into_inner();
    let prefix_len = zip::ZipArchive::new(Cursor::new(copied.as_slice()))
        .map(|archive| archive.central_directory_start() as usize)
        .expect("lambada reads the zip it wrote");
    let prefix = copied[..prefix_len].to_vec();
    let mut prefix_hash = Sha256::new();
    prefix_hash.update(&prefix);
    RuntimeEntries {
        zip,
        prefix,
        prefix_hash,
    }
});

fn copy_runtime_first(
    mut writer: zip::ZipWriter<Cursor<Vec<u8>>>,
    runtime_zip: &[u8],
) -> zip::ZipWriter<Cursor<Vec<u8>>> {
    zip::ZipArchive::new(Cursor::new(runtime_zip))
        .and_then(|mut archive| {
            for index in 0..archive.len() {
                let entry = archive.by_index_raw(index)?;
                writer.raw_copy_file(entry)?;
            }
            Ok(())
        })
        .expect("writing a zip into memory cannot fail");
    writer
}

/// Whether `files` holds the whole runtime package, unchanged.
fn holds_runtime(files: &BTreeMap<String, Bytes>) -> bool {
    codegen::RUNTIME_FILES.iter().all(|&(path, runtime)| {
        files.get(path).is_some_and(|bytes| {
            // Usually the very same bytes (borrowed): no need to compare them.
            std::ptr::eq(bytes.as_ref(), runtime) || bytes.as_ref() == runtime
        })
    })
}

/// A zip whose bytes depend only on the files: the runtime package first (in the order
/// of its paths), then the other entries sorted by name, the zip format's earliest
/// timestamp (1980-01-01), fixed permissions and compression level.
pub fn zip_bytes(files: &BTreeMap<String, Bytes>) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let runtime_first = !codegen::RUNTIME_FILES.is_empty() && holds_runtime(files);
    if runtime_first {
        writer = copy_runtime_first(writer, &RUNTIME_ENTRIES.zip);
    }
    for (name, bytes) in files {
        if runtime_first && codegen::is_runtime_file(name) {
            continue;
        }
        writer
            .start_file(name.as_str(), zip_options())
            .and_then(|()| writer.write_all(bytes).map_err(Into::into))
            .expect("writing a zip into memory cannot fail");
    }
    writer
        .finish()
        .expect("writing a zip into memory cannot fail")
        .into_inner()
}

/// What Lambda reports as CodeSha256: base64 of the SHA-256 of the zip bytes.
pub fn code_sha256(zip: &[u8]) -> String {
    let entry = &*RUNTIME_ENTRIES;
    let prefix = entry.prefix.as_slice();
    let digest = if zip.starts_with(prefix) {
        // Package zips all start with the same runtime entries: hash only the rest.
        let mut hasher = entry.prefix_hash.clone();
        hasher.update(&zip[prefix.len()..]);
        hasher.finalize()
    } else {
        Sha256::digest(zip)
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Writes an output under `root/<name>`, atomically: everything goes to a temporary
/// directory beside it, which then replaces the old output in one rename.
pub fn write(output: &Output, root: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.", output.name))
        .tempdir_in(root)?;
    for (path, bytes) in &output.files {
        let target = staging.path().join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, bytes)?;
    }
    let destination = root.join(&output.name);
    let staged = staging.keep();
    if destination.exists() {
        let old = tempfile::Builder::new()
            .prefix(&format!(".{}.old.", output.name))
            .tempdir_in(root)?
            .keep();
        std::fs::rename(&destination, old.join("previous"))?;
        std::fs::rename(&staged, &destination)?;
        std::fs::remove_dir_all(&old)?;
    } else {
        std::fs::rename(&staged, &destination)?;
    }
    Ok(destination)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_runtime(files: &[(&str, &'static str)]) -> BTreeMap<String, Bytes> {
        files
            .iter()
            .map(|&(n, t)| (n.to_owned(), Cow::Borrowed(t.as_bytes())))
            .chain(runtime_files().map(|(path, bytes)| (path.to_owned(), bytes)))
            .collect()
    }

    #[test]
    fn zips_are_deterministic() {
        let files = with_runtime(&[("b.py", "x = 1\n"), ("a.py", "y = 2\n")]);
        let first = zip_bytes(&files);
        assert_eq!(first, zip_bytes(&files));
        assert_eq!(code_sha256(&first), code_sha256(&zip_bytes(&files)));
        // The runtime package's copied entries read back as its files, first.
        let mut archive = zip::ZipArchive::new(Cursor::new(first)).unwrap();
        for (index, &(path, bytes)) in codegen::RUNTIME_FILES.iter().enumerate() {
            let mut entry = archive.by_index(index).unwrap();
            assert_eq!(entry.name().unwrap(), path);
            let mut read = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut read).unwrap();
            assert_eq!(read, bytes);
        }
        assert_eq!(archive.len(), codegen::RUNTIME_FILES.len() + 2);
    }

    #[test]
    fn a_changed_runtime_file_is_written_like_any_other() {
        let mut files = with_runtime(&[("a.py", "y = 2\n")]);
        if let Some(&(path, _)) = codegen::RUNTIME_FILES.first() {
            files.insert(path.to_owned(), Cow::Borrowed(b"changed = True\n"));
        }
        let zip = zip_bytes(&files);
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), files.len());
        let mut read = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("a.py").unwrap(), &mut read).unwrap();
        assert_eq!(read, "y = 2\n");
    }

    #[test]
    fn code_sha256_is_the_plain_sha256_of_the_zip() {
        let files = with_runtime(&[("lambada_handler.py", "x = 1\n")]);
        let zip = zip_bytes(&files);
        let plain = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
        assert_eq!(code_sha256(&zip), plain);
        assert_eq!(
            code_sha256(b"not a zip"),
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"not a zip"))
        );
    }

    #[test]
    fn function_names_are_valid_for_lambda() {
        assert_eq!(function_name("", "app", "fib"), "app-fib");
        let long = function_name(
            "project-",
            "a_module_with_a_rather_long_name",
            "and_a_function_with_a_long_name_too",
        );
        assert!(long.len() <= 64, "{long}");
        assert!(
            long.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
