//! `lambada stats FILE` and `lambada run --stats`: the invocation log summed up per
//! function (count, errors, p50/p99 duration, billed ms) with the estimated bill.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::cost::{Bill, Prices};
use crate::host::invocation_log::InvocationRow;

/// One function's invocations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionStats {
    pub function: String,
    pub invocations: u64,
    pub errors: u64,
    /// Error types and how often each occurred.
    pub error_types: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub billed_ms: u64,
    /// The largest configured memory seen (a function reconfigured meanwhile has several).
    pub memory_mb: u32,
    pub bill: Bill,
}

/// The whole log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub functions: Vec<FunctionStats>,
    pub total: Bill,
    pub prices: Prices,
    /// Always false: said in the output so that nobody reads the figure as a bill.
    pub free_tier_subtracted: bool,
}

/// Sums `rows` up per function (sorted by name), priced at `prices`.
pub fn summarise(rows: &[InvocationRow], prices: Prices) -> Stats {
    let mut by_function: BTreeMap<&str, Vec<&InvocationRow>> = BTreeMap::new();
    for row in rows {
        by_function.entry(&row.function).or_default().push(row);
    }
    let functions = by_function
        .into_iter()
        .map(|(function, rows)| {
            let mut durations: Vec<f64> = rows.iter().map(|r| r.duration_ms).collect();
            durations.sort_by(f64::total_cmp);
            let mut error_types = BTreeMap::new();
            for row in rows.iter().filter(|r| r.status != "ok") {
                let kind = row.error_type.clone().unwrap_or_else(|| "unknown".into());
                *error_types.entry(kind).or_insert(0) += 1;
            }
            FunctionStats {
                function: function.to_owned(),
                invocations: rows.len() as u64,
                errors: rows.iter().filter(|r| r.status != "ok").count() as u64,
                error_types,
                p50_ms: percentile(&durations, 0.50),
                p99_ms: percentile(&durations, 0.99),
                billed_ms: rows.iter().map(|r| r.billed_ms).sum(),
                memory_mb: rows.iter().map(|r| r.memory_mb).max().unwrap_or(0),
                bill: Bill::of(rows.iter().map(|r| (r.memory_mb, r.billed_ms)), prices),
            }
        })
        .collect();
    Stats {
        functions,
        total: Bill::of(rows.iter().map(|r| (r.memory_mb, r.billed_ms)), prices),
        prices,
        free_tier_subtracted: false,
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Stats {
    /// A table for people.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let width = self
            .functions
            .iter()
            .map(|f| f.function.len())
            .max()
            .unwrap_or(0)
            .max("function".len());
        let _ = writeln!(
            text,
            "{:<width$}  {:>8}  {:>6}  {:>10}  {:>10}  {:>10}  {:>6}  {:>12}  {:>12}",
            "function", "calls", "errors", "p50 ms", "p99 ms", "billed ms", "MB", "GB-s", "USD"
        );
        for f in &self.functions {
            let _ = writeln!(
                text,
                "{:<width$}  {:>8}  {:>6}  {:>10.2}  {:>10.2}  {:>10}  {:>6}  {:>12.6}  {:>12.8}",
                f.function,
                f.invocations,
                f.errors,
                f.p50_ms,
                f.p99_ms,
                f.billed_ms,
                f.memory_mb,
                f.bill.gb_seconds,
                f.bill.total_usd
            );
            for (kind, n) in &f.error_types {
                let _ = writeln!(text, "{:<width$}    {n} x {kind}", "");
            }
        }
        let t = &self.total;
        let _ = writeln!(
            text,
            "total: {} requests, {:.6} GB-s: ${:.8} compute + ${:.8} requests = ${:.8}",
            t.requests, t.gb_seconds, t.compute_usd, t.requests_usd, t.total_usd
        );
        let _ = writeln!(
            text,
            "at ${} per GB-s and ${} per request; the free tier is not subtracted",
            self.prices.gb_second, self.prices.request
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::Arch;

    fn row(function: &str, duration_ms: f64, status: &str) -> InvocationRow {
        InvocationRow {
            time: "2026-11-30T12:00:00.000Z".into(),
            tenant: "anonymous".into(),
            function: function.into(),
            request_id: "r".into(),
            duration_ms,
            billed_ms: duration_ms.ceil() as u64,
            memory_mb: 256,
            status: status.into(),
            error_type: (status == "error").then(|| "ZeroDivisionError".to_owned()),
        }
    }

    #[test]
    fn each_function_gets_counts_percentiles_and_its_share_of_the_bill() {
        let mut rows: Vec<InvocationRow> = (1..=100)
            .map(|i| row("app-f", f64::from(i), "ok"))
            .collect();
        rows.push(row("app-g", 10.5, "error"));
        let prices = Prices::aws(Arch::X86_64);
        let stats = summarise(&rows, prices);
        let [f, g] = stats.functions.as_slice() else {
            panic!("{stats:?}")
        };
        assert_eq!(
            (f.function.as_str(), f.invocations, f.errors),
            ("app-f", 100, 0)
        );
        assert_eq!((f.p50_ms, f.p99_ms), (50.0, 99.0));
        assert_eq!(f.billed_ms, 5050);
        assert_eq!((g.invocations, g.errors, g.billed_ms), (1, 1, 11));
        assert_eq!(g.error_types["ZeroDivisionError"], 1);
        assert_eq!(stats.total.requests, 101);
        let sum = f.bill.total_usd + g.bill.total_usd;
        assert!((stats.total.total_usd - sum).abs() < 1e-15);
        // 256 MB = 0.25 GB for 5.061 s in all.
        assert!((stats.total.gb_seconds - 0.25 * 5.061).abs() < 1e-12);
        let text = stats.to_text();
        assert!(text.contains("free tier is not subtracted"), "{text}");
        assert!(text.contains("1 x ZeroDivisionError"), "{text}");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.99), 4.0);
    }
}
