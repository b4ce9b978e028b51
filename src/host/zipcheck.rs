//! Checks and extracts uploaded function zips. Nothing outside the destination is ever
//! written: entry names with absolute paths or `..` are refused (zip-slip), regular files
//! are written before any symlink exists, and every symlink must resolve to something
//! inside the function directory. Sizes are counted while decompressing, so a zip bomb
//! stops at the limit whatever its headers claim.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use super::error::ApiError;

/// Largest zip accepted in a request (Lambda's direct-upload limit).
pub const MAX_ZIPPED_BYTES: usize = 50 * 1024 * 1024;
/// Largest total size of the extracted files.
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;
/// Most entries one zip may have.
pub const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes")]
    ZippedTooLarge,
    #[error("Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")]
    UnzippedTooLarge,
    #[error(
        "Could not unzip uploaded file. Please check your file, then try to upload again. ({0})"
    )]
    Malformed(String),
    #[error("Zip entry '{0}' is not allowed: entry names must be relative paths without '..'")]
    UnsafePath(String),
    #[error(
        "Zip entry '{name}' is a symlink to '{target}', which is not inside the function's code"
    )]
    EscapingSymlink { name: String, target: String },
    #[error("Zip has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("Zip entry '{name}' cannot be unpacked: {reason}")]
    BadEntry { name: String, reason: String },
    #[error("could not write the function's code: {0}")]
    Io(#[from] io::Error),
}

impl From<ZipError> for ApiError {
    fn from(e: ZipError) -> Self {
        match e {
            ZipError::ZippedTooLarge => ApiError::too_large(e.to_string()),
            ZipError::Io(_) => ApiError::service(e.to_string()),
            _ => ApiError::invalid_parameter(e.to_string()),
        }
    }
}

/// What an extraction produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extracted {
    pub files: usize,
    pub bytes: u64,
}

/// The relative path of a zip entry, or `None` if the name is absolute or climbs out.
fn safe_relative_path(name: &str) -> Option<PathBuf> {
    if name.is_empty()
        || name.contains('\0')
        || name.contains('\\')
        || name.starts_with('/')
        || name.as_bytes().get(1) == Some(&b':')
    {
        return None;
    }
    let mut path = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => path.push(part),
        }
    }
    // Anything Path would interpret specially (a prefix, a root) is refused too.
    if path.components().all(|c| matches!(c, Component::Normal(_))) {
        Some(path)
    } else {
        None
    }
}

/// Extracts `zip` into `dest` (which must exist and be empty), fsyncing what it writes.
pub fn extract(zip: &[u8], dest: &Path) -> Result<Extracted, ZipError> {
    extract_limited(zip, dest, MAX_UNZIPPED_BYTES)
}

fn extract_limited(zip: &[u8], dest: &Path, max_unzipped: u64) -> Result<Extracted, ZipError> {
    if zip.len() > MAX_ZIPPED_BYTES {
        return Err(ZipError::ZippedTooLarge);
    }
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip))
        .map_err(|e| ZipError::Malformed(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(ZipError::TooManyEntries);
    }
    // Honest headers are refused before anything is written; lying ones are caught by
    // counting below.
    let mut declared: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| ZipError::Malformed(e.to_string()))?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > max_unzipped {
        return Err(ZipError::UnzippedTooLarge);
    }
    let mut total: u64 = 0;
    let mut files = 0;
    let mut symlinks = Vec::new();
    let mut dirs = vec![dest.to_path_buf()];
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| ZipError::Malformed(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| ZipError::Malformed(e.to_string()))?
            .into_owned();
        let relative =
            safe_relative_path(&name).ok_or_else(|| ZipError::UnsafePath(name.clone()))?;
        if relative.components().any(|c| c.as_os_str().len() > 255) {
            return Err(ZipError::BadEntry {
                name,
                reason: "a path component is longer than 255 bytes".into(),
            });
        }
        let path = dest.join(&relative);
        let clash = entry_error(&name);
        if entry.is_symlink() {
            let mut target = String::new();
            entry
                .by_ref()
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| ZipError::Malformed(e.to_string()))?;
            symlinks.push((name.clone(), relative, target));
            continue;
        }
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(&clash)?;
            dirs.push(path);
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(&clash)?;
        }
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut out = fs::File::create(&path).map_err(&clash)?;
        let allowance = max_unzipped - total;
        let written = io::copy(&mut entry.by_ref().take(allowance + 1), &mut out).map_err(|e| {
            match e.kind() {
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                    ZipError::Malformed(format!("{name}: {e}"))
                }
                _ => ZipError::Io(e),
            }
        })?;
        if written > allowance {
            return Err(ZipError::UnzippedTooLarge);
        }
        total += written;
        files += 1;
        out.flush()?;
        set_mode(&out, if executable { 0o755 } else { 0o644 })?;
        out.sync_all()?;
    }
    for (name, relative, target) in symlinks {
        link_inside(dest, &name, &relative, &target)?;
    }
    for dir in dirs {
        sync_dir(&dir);
    }
    for_each_dir(dest, &mut |d| sync_dir(d))?;
    Ok(Extracted {
        files,
        bytes: total,
    })
}

/// Creates the symlink `relative` → `target` if the target, resolved against what is
/// already extracted, lies inside `root`.
/// An error writing entry `name`: the zip's fault when its names clash (a file where a
/// directory goes, a symlink over a directory, a name too long), the host's otherwise.
fn entry_error(name: &str) -> impl Fn(io::Error) -> ZipError + '_ {
    move |e: io::Error| match e.raw_os_error() {
        Some(libc::EEXIST | libc::ENOTDIR | libc::EISDIR | libc::ENAMETOOLONG | libc::ELOOP) => {
            ZipError::BadEntry {
                name: name.to_string(),
                reason: format!("it clashes with another entry ({e})"),
            }
        }
        _ => ZipError::Io(e),
    }
}

fn link_inside(root: &Path, name: &str, relative: &Path, target: &str) -> Result<(), ZipError> {
    let escaping = || ZipError::EscapingSymlink {
        name: name.to_string(),
        target: target.to_string(),
    };
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return Err(escaping());
    }
    let path = root.join(relative);
    let clash = entry_error(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(&clash)?;
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, &path).map_err(&clash)?;
    #[cfg(not(unix))]
    return Err(escaping());
    let canonical_root = fs::canonicalize(root)?;
    match fs::canonicalize(&path) {
        Ok(resolved) if resolved.starts_with(&canonical_root) => Ok(()),
        _ => {
            let _ = fs::remove_file(&path);
            Err(escaping())
        }
    }
}

#[cfg(unix)]
fn set_mode(file: &fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &fs::File, _: u32) -> io::Result<()> {
    Ok(())
}

/// fsync of a directory, so that the names in it survive a crash. Best effort: not every
/// platform can open a directory.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn for_each_dir(dir: &Path, f: &mut dyn FnMut(&Path)) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let path = entry.path();
            f(&path);
            for_each_dir(&path, f)?;
        }
    }
    Ok(())
}

/// Whether the module of `handler` (`module.function`, `pkg.module.function` or
/// `dir/module.function`) exists in the extracted code at `root`.
pub fn handler_module_exists(root: &Path, handler: &str) -> bool {
    let Some((module, function)) = handler.rsplit_once('.') else {
        return false;
    };
    if module.is_empty() || function.is_empty() {
        return false;
    }
    let parts: Vec<&str> = module.split(['.', '/']).collect();
    if parts.iter().any(|p| p.is_empty() || *p == "..") {
        return false;
    }
    let (last, dirs) = parts.split_last().expect("split yields one part at least");
    let dir = dirs.iter().fold(root.to_path_buf(), |d, p| d.join(p));
    if dir.join(format!("{last}.py")).is_file()
        || dir.join(format!("{last}.pyc")).is_file()
        || dir.join(last).join("__init__.py").is_file()
    {
        return true;
    }
    // Extension modules: module.so, module.cpython-312-x86_64-linux-gnu.so, module.abi3.so.
    fs::read_dir(&dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix(last)
                .is_some_and(|rest| rest.starts_with('.') && rest.ends_with(".so"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn zip_with_symlink(name: &str, target: &str) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        w.start_file("app.py", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"def handler(e, c): return 1\n").unwrap();
        w.add_symlink(name, target, SimpleFileOptions::default())
            .unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_normal_zip_is_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let zip = zip_of(&[
            ("app.py", b"x = 1\n"),
            ("pkg/__init__.py", b""),
            ("./pkg/m.py", b"y"),
        ]);
        let got = extract(&zip, dir.path()).unwrap();
        assert_eq!(got.files, 3);
        assert_eq!(fs::read(dir.path().join("app.py")).unwrap(), b"x = 1\n");
        assert!(handler_module_exists(dir.path(), "app.handler"));
        assert!(handler_module_exists(dir.path(), "pkg.m.handler"));
        assert!(handler_module_exists(dir.path(), "pkg/m.handler"));
        assert!(handler_module_exists(dir.path(), "pkg.handler"));
        assert!(!handler_module_exists(dir.path(), "nope.handler"));
        assert!(!handler_module_exists(dir.path(), "app"));
    }

    #[test]
    fn zip_slip_names_are_refused() {
        for bad in [
            "../evil.py",
            "/etc/evil.py",
            "a/../../evil.py",
            "C:/evil.py",
            "a\\..\\evil",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let err = extract(&zip_of(&[(bad, b"x")]), dir.path()).unwrap_err();
            assert!(matches!(err, ZipError::UnsafePath(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        extract(&zip_with_symlink("alias.py", "app.py"), dir.path()).unwrap();
        assert!(dir.path().join("alias.py").is_file());
        for target in ["../outside", "/etc/passwd", "missing.py", "sub/../../x"] {
            let dir = tempfile::tempdir().unwrap();
            let err = extract(&zip_with_symlink("link", target), dir.path()).unwrap_err();
            assert!(
                matches!(err, ZipError::EscapingSymlink { .. }),
                "{target}: {err}"
            );
        }
    }

    #[test]
    fn garbage_is_not_a_zip() {
        let dir = tempfile::tempdir().unwrap();
        let err = extract(b"definitely not a zip", dir.path()).unwrap_err();
        assert!(matches!(err, ZipError::Malformed(_)));
    }

    fn bomb(megabytes: usize) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        w.start_file("bomb.bin", SimpleFileOptions::default())
            .unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..megabytes {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_declaring_too_much_is_refused_before_writing() {
        let mut zip = bomb(1);
        // Central directory entry: uncompressed size claims 300 MB.
        let central = zip.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        zip[central + 24..central + 28].copy_from_slice(&(300u32 << 20).to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let err = extract(&zip, dir.path()).unwrap_err();
        assert!(matches!(err, ZipError::UnzippedTooLarge), "{err}");
        assert!(!dir.path().join("bomb.bin").exists());
    }

    #[test]
    fn a_zip_bomb_with_lying_headers_stops_at_the_limit() {
        let mut zip = bomb(3);
        // Make every size field claim 1 KB: local header at 0, central directory entry.
        let claim = 1024u32.to_le_bytes();
        let central = zip.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        zip[22..26].copy_from_slice(&claim);
        zip[central + 24..central + 28].copy_from_slice(&claim);
        let dir = tempfile::tempdir().unwrap();
        let err = extract_limited(&zip, dir.path(), 2 << 20).unwrap_err();
        assert!(
            matches!(err, ZipError::UnzippedTooLarge | ZipError::Malformed(_)),
            "{err}"
        );
        let written = fs::metadata(dir.path().join("bomb.bin"))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(written <= (2 << 20) + 1, "{written}");
    }
}
