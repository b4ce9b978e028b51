//! The standard library's top-level modules per Python version: `sys.stdlib_module_names`
//! of each interpreter, recorded in `stdlib/3.X.txt` (Python 3.9 has no such attribute
//! and no top-level module that 3.10 lacks, so it uses the 3.10 list).
//!
//! The target's list matters, not this machine's: `imp` and `distutils` left in 3.12,
//! `cgi` and `telnetlib` in 3.13, so a program that runs here can fail to import there.

/// Python versions with a recorded list, oldest first.
const LISTS: &[((u32, u32), &str)] = &[
    ((3, 10), include_str!("stdlib/3.10.txt")),
    ((3, 11), include_str!("stdlib/3.11.txt")),
    ((3, 12), include_str!("stdlib/3.12.txt")),
    ((3, 13), include_str!("stdlib/3.13.txt")),
];

fn list_for(version: (u32, u32)) -> &'static str {
    LISTS
        .iter()
        .rev()
        .find(|(v, _)| *v <= version)
        .or(LISTS.first())
        .map(|(_, list)| *list)
        .expect("at least one list is recorded")
}

/// Whether `top` is a standard library module in Python `version` (a version newer than
/// every list uses the newest).
pub fn contains(version: (u32, u32), top: &str) -> bool {
    list_for(version).lines().any(|name| name == top)
}

/// The newest recorded version whose standard library still had `top`, when the target
/// no longer does: "`imp` was removed from the standard library in Python 3.12".
pub fn removed_after(version: (u32, u32), top: &str) -> Option<(u32, u32)> {
    if contains(version, top) {
        return None;
    }
    LISTS
        .iter()
        .rev()
        .filter(|(v, _)| *v < version)
        .find(|(_, list)| list.lines().any(|name| name == top))
        .map(|(v, _)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_follow_the_target_version() {
        assert!(contains((3, 11), "imp"));
        assert!(!contains((3, 12), "imp"));
        assert!(contains((3, 12), "tomllib"));
        assert!(!contains((3, 10), "tomllib"));
        assert!(contains((3, 9), "json"));
        assert!(contains((3, 14), "json"));
        assert!(!contains((3, 12), "numpy"));
        assert_eq!(removed_after((3, 13), "telnetlib"), Some((3, 12)));
        assert_eq!(removed_after((3, 12), "json"), None);
        assert_eq!(removed_after((3, 12), "numpy"), None);
    }
}
