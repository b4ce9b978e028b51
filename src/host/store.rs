//! The durable state of the host, in its state directory:
//!
//! ```text
//! LOCK                                    held (flock) by the running host
//! runtime/worker_bootstrap.py             the Python worker, rewritten at every start
//! staging/<token>/                        uploads being checked and extracted
//! workers/lambada-worker-<token>/         a live worker's scratch: its sandbox's root
//!                                         mount point, or its /tmp in process mode
//! tenants/<tenant>/functions/<name>/function.json       the function's record
//! tenants/<tenant>/functions/<name>/code-<rev>/         its extracted code
//! tenants/<tenant>/functions/<name>/code-<rev>.zip      the zip as uploaded
//! tenants/<tenant>/functions/<name>/opt-<hash>/         its layers, merged in order
//! tenants/<tenant>/layers/<name>/layer.json             a layer's versions
//! tenants/<tenant>/layers/<name>/<version>.zip          a layer version's zip
//! tenants/<tenant>/events/<request-id>.json             accepted asynchronous invocations
//! ```
//!
//! A function exists exactly when its `function.json` does. Code is extracted and fsynced
//! in `staging/`, renamed into the function's directory, and only then does the record
//! (written to a temporary file, fsynced and renamed over the old one) point at it. A
//! crash at any moment leaves either the old function or the new one, never half of
//! one; leftovers are removed at the next start. Published versions and aliases live in
//! the function's record, so publishing is one atomic write too; a version keeps the
//! code revision (and merged layers) it was published with. A layer version exists
//! exactly when `layer.json` lists it; its zip is in place before that. Merged layer
//! directories (`opt-<hash>`) that no record needs any more are removed at the next start.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::error::{ApiError, HostError};
use super::util::hex_token;
use super::zipcheck::{self, sync_dir};

/// The worker bootstrap, compiled into the binary.
pub const WORKER_BOOTSTRAP: &str = include_str!("../../templates/worker_bootstrap.py");

const RECORD_FILE: &str = "function.json";
const LAYER_FILE: &str = "layer.json";

/// Everything the host keeps about one function. Field names are the host's own: this
/// is a storage format, rendered to Lambda's `FunctionConfiguration` by the API layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub name: String,
    pub region: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    #[serde(default)]
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    #[serde(default)]
    pub environment: Option<BTreeMap<String, String>>,
    pub code_sha256: String,
    pub code_size: u64,
    pub code_rev: String,
    pub last_modified: String,
    pub revision_id: String,
    #[serde(default)]
    pub policy: Vec<serde_json::Value>,
    /// The layer versions the function runs with, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerUse>,
    /// `opt-<hash>`: the directory of the function holding its layers merged (the
    /// worker's `/opt`), when it has layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_dir: Option<String>,
    /// Published versions: immutable snapshots of this record (their own `versions`,
    /// `aliases` and `reserved_concurrency` are unused).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<u32, FunctionRecord>,
    /// The last version number given out; numbers are never reused, as in Lambda.
    #[serde(default)]
    pub last_version: u32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, AliasRecord>,
    /// PutFunctionConcurrency: invocations of all versions at once, at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// Set for an OpenWhisk action (see `openwhisk`): what its API reports and needs
    /// beyond a function's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openwhisk: Option<ActionMeta>,
}

/// The OpenWhisk side of an action: its record's `handler` is `openwhisk:<main>`,
/// `timeout` the limit rounded up to seconds, `memory_size` its memory limit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActionMeta {
    /// The namespace it was created in (its tenant's).
    pub namespace: String,
    /// `python:3`, `python:3.12`, `python:default`.
    pub kind: String,
    /// The function `__main__.py` exports (`exec.main`, default `main`).
    pub main: String,
    /// Uploaded as a zip (else as the text of `__main__.py`).
    pub binary: bool,
    /// Default parameters, `[{"key", "value"}]`: the invocation's own win.
    pub parameters: Vec<serde_json::Value>,
    pub annotations: Vec<serde_json::Value>,
    /// Semantic version, one patch level up at every update.
    pub version: String,
    pub publish: bool,
    /// Milliseconds since the epoch of the last change.
    pub updated: u64,
    pub timeout_ms: u64,
    pub logs_mb: u32,
}

impl FunctionRecord {
    /// Every code revision the function still needs: `$LATEST`'s and its versions'.
    pub fn code_revs(&self) -> BTreeSet<&str> {
        std::iter::once(self.code_rev.as_str())
            .chain(self.versions.values().map(|v| v.code_rev.as_str()))
            .collect()
    }

    /// Every merged layer directory the function still needs.
    pub fn opt_dirs(&self) -> BTreeSet<&str> {
        std::iter::once(&self.opt_dir)
            .chain(self.versions.values().map(|v| &v.opt_dir))
            .filter_map(|d| d.as_deref())
            .collect()
    }
}

/// One layer version a function uses, as its configuration reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerUse {
    pub arn: String,
    pub code_size: u64,
    /// The layer version's CodeSha256: part of the merged directory's name.
    pub code_sha256: String,
}

/// An alias: a name for a version, optionally sending a share of invocations to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub function_version: String,
    #[serde(default)]
    pub description: String,
    /// `RoutingConfig.AdditionalVersionWeights`: version → share (0.0-1.0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_weights: BTreeMap<String, f64>,
    pub revision_id: String,
}

/// Everything the host keeps about one layer (all its versions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub last_version: u32,
    pub versions: BTreeMap<u32, LayerVersionRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerVersionRecord {
    pub region: String,
    #[serde(default)]
    pub description: String,
    pub created_date: String,
    #[serde(default)]
    pub compatible_runtimes: Vec<String>,
    #[serde(default)]
    pub compatible_architectures: Vec<String>,
    #[serde(default)]
    pub license_info: Option<String>,
    pub code_sha256: String,
    pub code_size: u64,
}

/// An extracted code directory and its zip. When marked obsolete (the function's code
/// was replaced or the function deleted) both are removed once the last worker using
/// them is gone.
#[derive(Debug)]
pub struct CodeDir {
    pub path: PathBuf,
    pub zip: PathBuf,
    obsolete: AtomicBool,
}

impl CodeDir {
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Relaxed);
    }
}

impl Drop for CodeDir {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Relaxed) {
            let _ = fs::remove_dir_all(&self.path);
            let _ = fs::remove_file(&self.zip);
            if let Some(function_dir) = self.path.parent() {
                // Succeeds only once the function is deleted and nothing else is left.
                let _ = fs::remove_dir(function_dir);
            }
        }
    }
}

/// Code checked and extracted in the staging area, not yet part of any function.
#[derive(Debug)]
pub struct StagedCode {
    dir: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl StagedCode {
    pub fn code_path(&self) -> PathBuf {
        self.dir.join("code")
    }
}

impl Drop for StagedCode {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An asynchronous invocation accepted but not yet run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingEvent {
    pub request_id: String,
    pub function: String,
    /// The event JSON as sent.
    pub payload: String,
    #[serde(default)]
    pub client_context: Option<String>,
    /// The version or alias invoked (`None`: `$LATEST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
}

#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    _lock: fs::File,
}

fn state_error(path: &Path) -> impl FnOnce(io::Error) -> HostError + '_ {
    move |source| HostError::State {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `data` to `path` atomically: temporary file, fsync, rename, fsync of the dir.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        hex_token(6)
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    sync_dir(dir);
    result
}

#[cfg(unix)]
fn lock_exclusive(file: &fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn lock_exclusive(_: &fs::File) -> bool {
    true
}

impl Store {
    /// Opens (creating if needed) and locks the state directory, clears the staging
    /// area and writes the worker bootstrap.
    pub fn open(root: &Path) -> Result<Store, HostError> {
        fs::create_dir_all(root).map_err(state_error(root))?;
        let root = fs::canonicalize(root).map_err(state_error(root))?;
        let lock_path = root.join("LOCK");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(state_error(&lock_path))?;
        if !lock_exclusive(&lock) {
            return Err(HostError::StateLocked(root));
        }
        let staging = root.join("staging");
        let _ = fs::remove_dir_all(&staging);
        // What workers of a host that was killed left behind.
        let workers = root.join("workers");
        let _ = fs::remove_dir_all(&workers);
        for dir in [staging, workers, root.join("runtime"), root.join("tenants")] {
            fs::create_dir_all(&dir).map_err(state_error(&dir))?;
        }
        let bootstrap = root.join("runtime").join("worker_bootstrap.py");
        if fs::read(&bootstrap).ok().as_deref() != Some(WORKER_BOOTSTRAP.as_bytes()) {
            write_atomic(&bootstrap, WORKER_BOOTSTRAP.as_bytes())
                .map_err(state_error(&bootstrap))?;
        }
        Ok(Store { root, _lock: lock })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where workers get their scratch directories.
    pub fn workers_dir(&self) -> PathBuf {
        self.root.join("workers")
    }

    pub fn bootstrap_path(&self) -> PathBuf {
        self.root.join("runtime").join("worker_bootstrap.py")
    }

    fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.root.join("tenants").join(tenant)
    }

    fn function_dir(&self, tenant: &str, name: &str) -> PathBuf {
        self.tenant_dir(tenant).join("functions").join(name)
    }

    fn code_paths(&self, tenant: &str, name: &str, rev: &str) -> (PathBuf, PathBuf) {
        let dir = self.function_dir(tenant, name);
        (
            dir.join(format!("code-{rev}")),
            dir.join(format!("code-{rev}.zip")),
        )
    }

    /// The code directory of a stored record.
    pub fn code_dir(&self, tenant: &str, record: &FunctionRecord) -> CodeDir {
        self.code_dir_of(tenant, &record.name, &record.code_rev)
    }

    /// The code directory of one code revision of a function.
    pub fn code_dir_of(&self, tenant: &str, name: &str, rev: &str) -> CodeDir {
        let (path, zip) = self.code_paths(tenant, name, rev);
        CodeDir {
            path,
            zip,
            obsolete: AtomicBool::new(false),
        }
    }

    /// Checks and extracts an uploaded zip into the staging area (blocking).
    pub fn stage_code(&self, zip: &[u8]) -> Result<StagedCode, ApiError> {
        let dir = self.root.join("staging").join(hex_token(8));
        let staged = StagedCode {
            dir,
            sha256: crate::package::code_sha256(zip),
            size: zip.len() as u64,
        };
        fs::create_dir_all(staged.code_path()).map_err(|e| ApiError::service(e.to_string()))?;
        zipcheck::extract(zip, &staged.code_path())?;
        write_atomic(&staged.dir.join("code.zip"), zip)
            .map_err(|e| ApiError::service(e.to_string()))?;
        Ok(staged)
    }

    /// Moves staged code into the function's directory under a new revision (blocking).
    pub fn commit_code(
        &self,
        tenant: &str,
        name: &str,
        staged: StagedCode,
    ) -> io::Result<(String, CodeDir)> {
        let function_dir = self.function_dir(tenant, name);
        fs::create_dir_all(&function_dir)?;
        let rev = hex_token(8);
        let (path, zip) = self.code_paths(tenant, name, &rev);
        fs::rename(staged.dir.join("code.zip"), &zip)?;
        fs::rename(staged.code_path(), &path)?;
        sync_dir(&function_dir);
        let code = CodeDir {
            path,
            zip,
            obsolete: AtomicBool::new(false),
        };
        Ok((rev, code))
    }

    /// Where a function's merged layers (`opt-<hash>`) are.
    pub fn opt_path(&self, tenant: &str, name: &str, opt_dir: &str) -> PathBuf {
        self.function_dir(tenant, name).join(opt_dir)
    }

    /// Extracts the given layer zips, in order, into one directory of the function (the
    /// worker's `/opt`; a later layer's file replaces an earlier one's) and returns its
    /// name. The name is derived from the layers' hashes, so an existing directory is
    /// reused as it is (blocking).
    pub fn merge_layers(
        &self,
        tenant: &str,
        name: &str,
        layers: &[(LayerUse, PathBuf)],
    ) -> Result<String, ApiError> {
        use sha2::Digest;
        let service = |e: io::Error| ApiError::service(format!("could not unpack layers: {e}"));
        let mut hash = sha2::Sha256::new();
        for (layer, _) in layers {
            hash.update(layer.arn.as_bytes());
            hash.update(b"\n");
            hash.update(layer.code_sha256.as_bytes());
            hash.update(b"\n");
        }
        let digest: String = hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let opt_dir = format!("opt-{digest}");
        let function_dir = self.function_dir(tenant, name);
        let target = function_dir.join(&opt_dir);
        if target.is_dir() {
            return Ok(opt_dir);
        }
        let staging = StagedCode {
            dir: self.root.join("staging").join(hex_token(8)),
            sha256: String::new(),
            size: 0,
        };
        let merged = staging.dir.join("opt");
        fs::create_dir_all(&merged).map_err(service)?;
        for (index, (layer, zip)) in layers.iter().enumerate() {
            let bytes = fs::read(zip).map_err(|e| {
                ApiError::service(format!("layer {} is unreadable: {e}", layer.arn))
            })?;
            let unpacked = staging.dir.join(format!("layer-{index}"));
            fs::create_dir_all(&unpacked).map_err(service)?;
            zipcheck::extract(&bytes, &unpacked)?;
            merge_tree(&unpacked, &merged).map_err(service)?;
        }
        for_each_synced(&merged);
        fs::create_dir_all(&function_dir).map_err(service)?;
        fs::rename(&merged, &target).map_err(service)?;
        sync_dir(&function_dir);
        Ok(opt_dir)
    }

    /// Writes a function's record atomically: from now on the function is this record.
    pub fn write_record(&self, tenant: &str, record: &FunctionRecord) -> io::Result<()> {
        let dir = self.function_dir(tenant, &record.name);
        fs::create_dir_all(&dir)?;
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        write_atomic(&dir.join(RECORD_FILE), &json)
    }

    /// Deletes a function's record: from now on the function does not exist. Its code
    /// goes when the last worker using it is gone (see [`CodeDir`]).
    pub fn delete_record(&self, tenant: &str, name: &str) -> io::Result<()> {
        let dir = self.function_dir(tenant, name);
        fs::remove_file(dir.join(RECORD_FILE))?;
        sync_dir(&dir);
        Ok(())
    }

    /// Every stored function, by tenant, after removing what a crash may have left:
    /// function directories without a record and code revisions no record points at.
    /// Code directories that went missing are extracted again from their zip.
    pub fn load_all(&self) -> io::Result<Vec<(String, FunctionRecord)>> {
        let mut found = Vec::new();
        for tenant in read_dir_names(&self.root.join("tenants"))? {
            let functions = self.tenant_dir(&tenant).join("functions");
            for name in read_dir_names(&functions).unwrap_or_default() {
                let dir = functions.join(&name);
                let record: Option<FunctionRecord> = fs::read(dir.join(RECORD_FILE))
                    .ok()
                    .and_then(|data| serde_json::from_slice(&data).ok());
                let Some(record) = record else {
                    if !dir.join(RECORD_FILE).exists() {
                        let _ = fs::remove_dir_all(&dir);
                    } else {
                        eprintln!(
                            "lambada serve: warning: {} is unreadable; function {name} skipped",
                            dir.join(RECORD_FILE).display()
                        );
                    }
                    continue;
                };
                let revs = record.code_revs();
                let opt_dirs = record.opt_dirs();
                let needed = |entry: &str| {
                    let rev = entry.strip_prefix("code-").unwrap_or(entry);
                    revs.contains(rev.strip_suffix(".zip").unwrap_or(rev))
                };
                for entry in read_dir_names(&dir)? {
                    if entry.starts_with("code-") && !needed(&entry)
                        || entry.starts_with("opt-") && !opt_dirs.contains(entry.as_str())
                        || entry.starts_with('.') && entry.ends_with(".tmp")
                    {
                        let path = dir.join(&entry);
                        let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
                    }
                }
                let missing = revs.iter().find(|rev| {
                    let (code, zip) = self.code_paths(&tenant, &record.name, rev);
                    !code.is_dir()
                        && fs::read(&zip)
                            .ok()
                            .and_then(|bytes| {
                                let _ = fs::create_dir_all(&code);
                                zipcheck::extract(&bytes, &code).ok()
                            })
                            .is_none()
                });
                if let Some(rev) = missing {
                    eprintln!(
                        "lambada serve: warning: the code of function {name} (revision {rev}) is missing; function skipped"
                    );
                    continue;
                }
                found.push((tenant.clone(), record));
            }
            self.clean_layers(&tenant);
        }
        Ok(found)
    }

    fn layers_dir(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join("layers")
    }

    /// The zip of a layer version.
    pub fn layer_zip(&self, tenant: &str, layer: &str, version: u32) -> PathBuf {
        self.layers_dir(tenant)
            .join(layer)
            .join(format!("{version}.zip"))
    }

    /// A layer's record, `None` if the layer was never published.
    pub fn read_layer(&self, tenant: &str, layer: &str) -> io::Result<Option<LayerRecord>> {
        let path = self.layers_dir(tenant).join(layer).join(LAYER_FILE);
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every layer of a tenant, by name.
    pub fn list_layers(&self, tenant: &str) -> Vec<(String, LayerRecord)> {
        read_dir_names(&self.layers_dir(tenant))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| Some((name.clone(), self.read_layer(tenant, &name).ok()??)))
            .collect()
    }

    /// Moves a checked zip in place as a layer version's (before the record lists it).
    pub fn commit_layer_zip(
        &self,
        tenant: &str,
        layer: &str,
        version: u32,
        staged: StagedCode,
    ) -> io::Result<()> {
        let dir = self.layers_dir(tenant).join(layer);
        fs::create_dir_all(&dir)?;
        fs::rename(
            staged.dir.join("code.zip"),
            self.layer_zip(tenant, layer, version),
        )?;
        sync_dir(&dir);
        Ok(())
    }

    /// Writes a layer's record atomically: from now on its versions are these.
    pub fn write_layer(&self, tenant: &str, layer: &str, record: &LayerRecord) -> io::Result<()> {
        let dir = self.layers_dir(tenant).join(layer);
        fs::create_dir_all(&dir)?;
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        write_atomic(&dir.join(LAYER_FILE), &json)
    }

    /// Removes the zips no layer record lists (a crash between moving a zip in and
    /// writing the record, or after a deletion's record write).
    fn clean_layers(&self, tenant: &str) {
        for layer in read_dir_names(&self.layers_dir(tenant)).unwrap_or_default() {
            let dir = self.layers_dir(tenant).join(&layer);
            let record = self.read_layer(tenant, &layer).ok().flatten();
            for file in read_dir_names(&dir).unwrap_or_default() {
                let listed = file
                    .strip_suffix(".zip")
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|v| record.as_ref().is_some_and(|r| r.versions.contains_key(&v)));
                if file != LAYER_FILE && !listed {
                    let _ = fs::remove_file(dir.join(file));
                }
            }
        }
    }

    fn events_dir(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join("events")
    }

    /// Records an accepted asynchronous invocation durably (blocking).
    pub fn save_event(&self, tenant: &str, event: &PendingEvent) -> io::Result<()> {
        let dir = self.events_dir(tenant);
        fs::create_dir_all(&dir)?;
        let json = serde_json::to_vec(event).map_err(io::Error::other)?;
        write_atomic(&dir.join(format!("{}.json", event.request_id)), &json)
    }

    /// Forgets an asynchronous invocation once it ran.
    pub fn remove_event(&self, tenant: &str, request_id: &str) {
        let _ = fs::remove_file(self.events_dir(tenant).join(format!("{request_id}.json")));
    }

    /// The asynchronous invocations accepted before the last stop and not yet run.
    pub fn pending_events(&self) -> Vec<(String, PendingEvent)> {
        let mut events = Vec::new();
        for tenant in read_dir_names(&self.root.join("tenants")).unwrap_or_default() {
            let dir = self.events_dir(&tenant);
            for file in read_dir_names(&dir).unwrap_or_default() {
                let path = dir.join(&file);
                if !file.ends_with(".json") {
                    let _ = fs::remove_file(&path);
                    continue;
                }
                match fs::read(&path)
                    .ok()
                    .and_then(|d| serde_json::from_slice(&d).ok())
                {
                    Some(event) => events.push((tenant.clone(), event)),
                    None => {
                        let _ = fs::remove_file(&path);
                    }
                }
            }
        }
        events
    }
}

/// Moves everything in `from` into `into`, replacing what is there (a file by a directory
/// or the other way round too), merging directories.
fn merge_tree(from: &Path, into: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = into.join(entry.file_name());
        let existing = fs::symlink_metadata(&target).ok();
        if entry.file_type()?.is_dir() && existing.as_ref().is_some_and(|m| m.is_dir()) {
            merge_tree(&source, &target)?;
            continue;
        }
        match existing {
            Some(meta) if meta.is_dir() => fs::remove_dir_all(&target)?,
            Some(_) => fs::remove_file(&target)?,
            None => {}
        }
        fs::rename(&source, &target)?;
    }
    Ok(())
}

/// fsync of every directory under `root`, so that renamed entries survive a crash.
fn for_each_synced(root: &Path) {
    sync_dir(root);
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            for_each_synced(&entry.path());
        }
    }
}

fn read_dir_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn app_zip() -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        w.start_file("app.py", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"def handler(e, c):\n    return e\n").unwrap();
        w.finish().unwrap().into_inner()
    }

    fn record(name: &str, rev: &str) -> FunctionRecord {
        FunctionRecord {
            name: name.into(),
            region: "us-east-1".into(),
            runtime: "python3.12".into(),
            role: "arn:aws:iam::000000000000:role/r".into(),
            handler: "app.handler".into(),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            environment: None,
            code_sha256: "x".into(),
            code_size: 1,
            code_rev: rev.into(),
            last_modified: "t".into(),
            revision_id: "r".into(),
            policy: vec![],
            layers: vec![],
            opt_dir: None,
            versions: BTreeMap::new(),
            last_version: 0,
            aliases: BTreeMap::new(),
            reserved_concurrency: None,
            openwhisk: None,
        }
    }

    #[test]
    fn a_committed_function_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let staged = store.stage_code(&app_zip()).unwrap();
            let (rev, code) = store.commit_code("t", "f", staged).unwrap();
            assert!(code.path.join("app.py").is_file());
            store.write_record("t", &record("f", &rev)).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, "t");
        assert!(store.code_dir("t", &all[0].1).path.join("app.py").is_file());
    }

    #[test]
    fn code_without_a_record_is_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let staged = store.stage_code(&app_zip()).unwrap();
            // A crash between moving the code in and writing the record.
            store.commit_code("t", "half", staged).unwrap();
            let orphan = store.stage_code(&app_zip()).unwrap();
            std::mem::forget(orphan);
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.load_all().unwrap().is_empty());
        assert!(!dir.path().join("tenants/t/functions/half").exists());
        assert_eq!(fs::read_dir(dir.path().join("staging")).unwrap().count(), 0);
    }

    #[test]
    fn code_of_published_versions_is_kept_and_unlisted_layer_zips_go() {
        let dir = tempfile::tempdir().unwrap();
        let (old_rev, new_rev, stale_rev);
        {
            let store = Store::open(dir.path()).unwrap();
            let commit = || {
                let staged = store.stage_code(&app_zip()).unwrap();
                store.commit_code("t", "f", staged).unwrap().0
            };
            (old_rev, new_rev, stale_rev) = (commit(), commit(), commit());
            let mut latest = record("f", &new_rev);
            latest.versions.insert(1, record("f", &old_rev));
            latest.last_version = 1;
            store.write_record("t", &latest).unwrap();
            let layer = store.stage_code(&app_zip()).unwrap();
            store.commit_layer_zip("t", "deps", 1, layer).unwrap();
            // A crash after moving a second zip in, before the record listed it.
            let orphan = store.stage_code(&app_zip()).unwrap();
            store.commit_layer_zip("t", "deps", 2, orphan).unwrap();
            let listed = LayerRecord {
                last_version: 1,
                versions: BTreeMap::from([(
                    1,
                    LayerVersionRecord {
                        region: "us-east-1".into(),
                        description: String::new(),
                        created_date: "t".into(),
                        compatible_runtimes: vec![],
                        compatible_architectures: vec![],
                        license_info: None,
                        code_sha256: "x".into(),
                        code_size: 1,
                    },
                )]),
            };
            store.write_layer("t", "deps", &listed).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all[0].1.versions[&1].code_rev, old_rev);
        let function = dir.path().join("tenants/t/functions/f");
        assert!(function.join(format!("code-{old_rev}")).is_dir());
        assert!(function.join(format!("code-{new_rev}.zip")).is_file());
        assert!(!function.join(format!("code-{stale_rev}")).exists());
        assert!(store.layer_zip("t", "deps", 1).is_file());
        assert!(!store.layer_zip("t", "deps", 2).exists());
    }

    #[test]
    fn a_second_host_cannot_take_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        assert!(matches!(
            Store::open(dir.path()),
            Err(HostError::StateLocked(_))
        ));
    }

    #[test]
    fn events_wait_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let event = PendingEvent {
            request_id: "abc".into(),
            function: "f".into(),
            payload: "{}".into(),
            client_context: None,
            qualifier: None,
        };
        store.save_event("t", &event).unwrap();
        assert_eq!(store.pending_events().len(), 1);
        store.remove_event("t", "abc");
        assert!(store.pending_events().is_empty());
    }
}
