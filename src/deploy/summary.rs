//! What a deploy did, function by function: serializable for `--format json`, printable
//! for people.

use std::fmt;

use serde::Serialize;

/// What happened to one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Failed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
        })
    }
}

/// One function's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionReport {
    /// The key in the manifest (the Python name).
    pub key: String,
    pub function_name: String,
    pub outcome: Outcome,
    /// What was changed on the endpoint: `code`, `memory`, `timeout`, `handler`,
    /// `runtime` (empty for created and unchanged functions).
    pub changed: Vec<String>,
    /// The local zip's CodeSha256.
    pub code_sha256: String,
    pub function_arn: Option<String>,
    /// For a failure: the step that failed and the service's message.
    pub error: Option<String>,
}

/// The whole run. The caller exits with status 1 when [`DeploySummary::failed`] > 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploySummary {
    /// The Lambda endpoint used (the standard AWS endpoint of the region when none was
    /// configured).
    pub endpoint: String,
    pub region: String,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    /// Sorted by function name.
    pub functions: Vec<FunctionReport>,
    pub elapsed_ms: u64,
}

impl DeploySummary {
    pub(crate) fn new(
        endpoint: String,
        region: String,
        mut functions: Vec<FunctionReport>,
        elapsed_ms: u64,
    ) -> Self {
        functions.sort_by(|a, b| a.function_name.cmp(&b.function_name));
        let count = |o: Outcome| functions.iter().filter(|f| f.outcome == o).count();
        DeploySummary {
            endpoint,
            region,
            created: count(Outcome::Created),
            updated: count(Outcome::Updated),
            unchanged: count(Outcome::Unchanged),
            failed: count(Outcome::Failed),
            functions,
            elapsed_ms,
        }
    }

    /// No function failed.
    pub fn is_success(&self) -> bool {
        self.failed == 0
    }

    pub fn failures(&self) -> impl Iterator<Item = &FunctionReport> {
        self.functions
            .iter()
            .filter(|f| f.outcome == Outcome::Failed)
    }
}

/// `deployed 3 functions to URL in 1.2 s: 1 created, 1 updated, 1 unchanged, 0 failed`
/// and one line per failure with the service's message.
impl fmt::Display for DeploySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deployed {} to {} in {:.1} s: {} created, {} updated, {} unchanged, {} failed",
            crate::report::plural(self.functions.len() as u64, "function"),
            self.endpoint,
            self.elapsed_ms as f64 / 1000.0,
            self.created,
            self.updated,
            self.unchanged,
            self.failed
        )?;
        for failure in self.failures() {
            write!(
                f,
                "\n  {} ({}): {}",
                failure.function_name,
                failure.key,
                failure.error.as_deref().unwrap_or("failed")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, outcome: Outcome, error: Option<&str>) -> FunctionReport {
        FunctionReport {
            key: name.trim_start_matches("app-").into(),
            function_name: name.into(),
            outcome,
            changed: vec![],
            code_sha256: "x".into(),
            function_arn: None,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn summary_counts_and_names_failures() {
        let s = DeploySummary::new(
            "http://127.0.0.1:10000".into(),
            "us-east-1".into(),
            vec![
                report(
                    "app-b",
                    Outcome::Failed,
                    Some("creating: InvalidParameterValueException: bad"),
                ),
                report("app-a", Outcome::Created, None),
                report("app-c", Outcome::Unchanged, None),
            ],
            1234,
        );
        assert_eq!((s.created, s.updated, s.unchanged, s.failed), (1, 0, 1, 1));
        assert!(!s.is_success());
        assert_eq!(
            s.to_string(),
            "deployed 3 functions to http://127.0.0.1:10000 in 1.2 s: 1 created, 0 updated, 1 unchanged, 1 failed\n  app-b (b): creating: InvalidParameterValueException: bad"
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["functions"][0]["function_name"], "app-a");
        assert_eq!(json["functions"][1]["outcome"], "failed");
    }
}
