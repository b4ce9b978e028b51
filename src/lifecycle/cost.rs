//! What AWS would charge for invocations: GB-seconds (configured memory x billed
//! duration, billed by the millisecond) plus requests, at a price table.
//!
//! The default prices are AWS Lambda's on-demand prices in US East (N. Virginia), from
//! <https://aws.amazon.com/lambda/pricing/> (checked November 2026):
//! - x86_64: $0.0000166667 per GB-second, $0.20 per million requests;
//! - arm64:  $0.0000133334 per GB-second, $0.20 per million requests.
//!
//! These are the first volume tier (the first 6 billion GB-seconds a month); the free
//! tier (1 million requests and 400,000 GB-seconds a month) is **not** subtracted: the
//! estimate is what the invocations cost, not what this month's bill will say. Other
//! regions and later price changes: override with `--price-gb-s`, `--price-request` or
//! a pricing file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::deps::Arch;

/// USD per GB-second of x86_64 functions (first tier, us-east-1).
pub const X86_64_GB_SECOND: f64 = 0.000_016_666_7;
/// USD per GB-second of arm64 functions (first tier, us-east-1).
pub const ARM64_GB_SECOND: f64 = 0.000_013_333_4;
/// USD per request ($0.20 per million), both architectures.
pub const REQUEST: f64 = 0.000_000_2;

/// Prices in USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Per GB-second of configured memory x billed duration.
    pub gb_second: f64,
    /// Per request.
    pub request: f64,
}

impl Prices {
    /// AWS's published prices for functions on `arch`.
    pub fn aws(arch: Arch) -> Prices {
        Prices {
            gb_second: match arch {
                Arch::X86_64 => X86_64_GB_SECOND,
                Arch::Arm64 => ARM64_GB_SECOND,
            },
            request: REQUEST,
        }
    }

    /// A pricing file (TOML or JSON): `gb_second = ...` and `request = ...`, each
    /// optional, over `base`.
    pub fn from_file(path: &Path, base: Prices) -> Result<Prices, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            gb_second: Option<f64>,
            request: Option<f64>,
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--pricing {}: {e}", path.display()))?;
        let file: File = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            toml::from_str(&text).map_err(|e| e.to_string())
        }
        .map_err(|e| {
            format!(
                "--pricing {}: {e} (expected `gb_second = USD` and `request = USD`)",
                path.display()
            )
        })?;
        let prices = Prices {
            gb_second: file.gb_second.unwrap_or(base.gb_second),
            request: file.request.unwrap_or(base.request),
        };
        prices.check().map(|()| prices)
    }

    /// Prices are finite and not negative.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [("gb_second", self.gb_second), ("request", self.request)] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("price {name} = {value}: a price is a number >= 0"));
            }
        }
        Ok(())
    }
}

/// GB-seconds of one invocation: memory in MB over 1024 (Lambda's GB) times the billed
/// milliseconds over 1000.
pub fn gb_seconds(memory_mb: u32, billed_ms: u64) -> f64 {
    f64::from(memory_mb) / 1024.0 * billed_ms as f64 / 1000.0
}

/// What a set of invocations costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Bill {
    pub requests: u64,
    pub gb_seconds: f64,
    pub compute_usd: f64,
    pub requests_usd: f64,
    pub total_usd: f64,
}

impl Bill {
    /// The bill of invocations given as (memory MB, billed ms).
    pub fn of(invocations: impl IntoIterator<Item = (u32, u64)>, prices: Prices) -> Bill {
        let (mut requests, mut gb_s) = (0u64, 0.0f64);
        for (memory_mb, billed_ms) in invocations {
            requests += 1;
            gb_s += gb_seconds(memory_mb, billed_ms);
        }
        let compute_usd = gb_s * prices.gb_second;
        let requests_usd = requests as f64 * prices.request;
        Bill {
            requests,
            gb_seconds: gb_s,
            compute_usd,
            requests_usd,
            total_usd: compute_usd + requests_usd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gb_second_is_1024_mb_for_1000_billed_ms() {
        assert_eq!(gb_seconds(1024, 1000), 1.0);
        assert_eq!(gb_seconds(128, 1), 0.125 / 1000.0);
        assert_eq!(gb_seconds(512, 2500), 1.25);
    }

    #[test]
    fn the_bill_is_compute_plus_requests_at_the_table() {
        // AWS's own example figures: 3 million invocations of 120 ms at 1536 MB on
        // x86_64 are 540,000 GB-s; the compute is $9.00, the requests $0.60 (free tier
        // not subtracted).
        let invocations = std::iter::repeat_n((1536, 120), 3_000_000);
        let bill = Bill::of(invocations, Prices::aws(Arch::X86_64));
        assert_eq!(bill.requests, 3_000_000);
        assert!(
            (bill.gb_seconds - 540_000.0).abs() < 1e-3,
            "{}",
            bill.gb_seconds
        );
        assert!(
            (bill.compute_usd - 9.000_018).abs() < 1e-6,
            "{}",
            bill.compute_usd
        );
        assert!((bill.requests_usd - 0.60).abs() < 1e-9);
        assert!((bill.total_usd - (bill.compute_usd + bill.requests_usd)).abs() < 1e-12);
    }

    #[test]
    fn arm64_is_cheaper_per_gb_second_and_overrides_win() {
        let arm = Bill::of([(1024, 1000)], Prices::aws(Arch::Arm64));
        let x86 = Bill::of([(1024, 1000)], Prices::aws(Arch::X86_64));
        assert!(arm.compute_usd < x86.compute_usd);
        let custom = Prices {
            gb_second: 1.0,
            request: 0.5,
        };
        let bill = Bill::of([(2048, 500), (512, 1000)], custom);
        assert_eq!(bill.gb_seconds, 1.5);
        assert_eq!(bill.total_usd, 1.5 + 1.0);
    }

    #[test]
    fn pricing_files_override_what_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("prices.toml");
        std::fs::write(&toml, "gb_second = 0.00002\n").unwrap();
        let prices = Prices::from_file(&toml, Prices::aws(Arch::X86_64)).unwrap();
        assert_eq!(prices.gb_second, 0.00002);
        assert_eq!(prices.request, REQUEST);
        let json = dir.path().join("prices.json");
        std::fs::write(&json, r#"{"request": 0.000001}"#).unwrap();
        assert_eq!(
            Prices::from_file(&json, Prices::aws(Arch::Arm64))
                .unwrap()
                .request,
            0.000001
        );
        std::fs::write(&toml, "gb_seconds = 1\n").unwrap();
        let err = Prices::from_file(&toml, Prices::aws(Arch::X86_64)).unwrap_err();
        assert!(err.contains("gb_second"), "{err}");
        std::fs::write(&toml, "request = -1.0\n").unwrap();
        assert!(Prices::from_file(&toml, Prices::aws(Arch::X86_64)).is_err());
    }
}
