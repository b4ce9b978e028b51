//! The cost model: with a profile (`--profile FILE`), a unit the static analysis would
//! move moves only when its work per call outweighs what an invocation costs, by
//! `factor` (10 by default). An invocation costs a warm round trip plus the encoding
//! of what it sends and receives; a unit whose calls are cheaper than `factor` times
//! that stays local, so a small vector class in an inner loop is not turned into
//! thousands of network calls.
//!
//! The planner also prefers the outermost expensive call of a subtree: a unit whose
//! every call comes from units that move (or that run inside them) runs inside their
//! cloud function already, with the default `--remote-calls driver`, and stays local.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::plan::RemoteCalls;
use crate::profile::{MODULE_CALLER, Profile};

/// What one warm invocation costs the calling program on the embedded host, end to end:
/// the runtime encodes the call, signs it, sends it over HTTP to a warm worker, which
/// decodes, runs, encodes, and the caller decodes the answer. Measured with
/// `bench/profile/run.sh` (release build, 2 cores): the same programs with and without
/// their hot units moved differ by 0.48-0.60 ms per invocation of a small function or
/// method (the README's `fib_counter.py --remote-calls all` row: p50 0.5 ms); the host
/// alone answers in 0.053 ms (`benches/host_invoke.rs`), the rest is the runtime and
/// the HTTP client. AWS Lambda's warm invocations cost more (milliseconds), so this is
/// a lower bound: a unit that does not pay here does not pay there.
pub const WARM_INVOCATION_MICROS: f64 = 500.0;

/// Encoding and decoding one KB of arguments or results with the runtime's codec and
/// JSON, on top of the round trip: `bench/profile/payload_cost.py` measures 116-156 µs
/// per KB on lists of small records (220 µs for payloads under 1 KB) on this machine.
pub const MICROS_PER_KB: f64 = 120.0;

/// How many times an invocation's cost a call's work must be before moving it pays:
/// below 10x, the invocation adds more than 10 % to the call.
pub const DEFAULT_FACTOR: f64 = 10.0;

/// The profile and the model's parameters.
#[derive(Debug, Clone)]
pub struct Guide {
    pub profile: Profile,
    pub factor: f64,
    pub invocation_micros: f64,
}

impl Guide {
    pub fn new(profile: Profile) -> Self {
        Guide {
            profile,
            factor: DEFAULT_FACTOR,
            invocation_micros: WARM_INVOCATION_MICROS,
        }
    }
}

/// The figures that drove one unit's decision, for `-v` and `--format json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Calls that would be invocations if the unit moved (entries from other units or
    /// module code; with `--remote-calls all`, every call of its code).
    pub calls: u64,
    /// Of those, the calls made from code that stays in the program.
    pub calls_from_program: u64,
    /// Mean time of a call, its callees included, microseconds.
    pub mean_micros: f64,
    /// Mean time of a call in its own code, microseconds.
    pub mean_self_micros: f64,
    /// Mean encoded size of a call's arguments and of its result, bytes (sampled).
    pub arg_bytes: u64,
    pub result_bytes: u64,
    /// What one invocation of it would cost, microseconds: the warm round trip plus
    /// encoding its arguments and result.
    pub invocation_micros: f64,
    pub factor: f64,
    /// The time a call must take for the unit to move: `factor * invocation_micros`.
    pub threshold_micros: f64,
    /// `moves` or `kept local`, with why, in words.
    pub verdict: String,
}

/// The model's decision for each candidate: its figures, and the reason it stays local
/// (`None`: it moves). Candidates the profile never saw stay local.
pub fn decide(
    guide: &Guide,
    candidates: &BTreeSet<String>,
    remote_calls: RemoteCalls,
) -> BTreeMap<String, (Figures, Option<String>)> {
    let profile = &guide.profile;
    let figures: BTreeMap<&str, Figures> = candidates
        .iter()
        .map(|name| (name.as_str(), figures_of(guide, name, remote_calls)))
        .collect();
    let expensive: BTreeSet<&str> = figures
        .iter()
        .filter(|(_, f)| f.calls > 0 && f.mean_micros >= f.threshold_micros)
        .map(|(name, _)| *name)
        .collect();
    let inside = match remote_calls {
        RemoteCalls::Driver => runs_inside_moved(profile, &expensive),
        // Every call to a moved unit is an invocation, wherever it is made.
        RemoteCalls::All => BTreeMap::new(),
    };
    figures
        .into_iter()
        .map(|(name, mut f)| {
            let reason = if f.calls == 0 {
                Some("never called in the profile run (profile)".to_owned())
            } else if let Some(movers) = inside.get(name) {
                Some(format!(
                    "runs inside the cloud function of {}: {} from it (profile)",
                    movers.join(", "),
                    if f.calls == 1 {
                        "its one call comes".to_owned()
                    } else {
                        format!("all {} calls come", count(f.calls))
                    }
                ))
            } else if !expensive.contains(name) {
                Some(cheap_reason(&f))
            } else {
                None
            };
            f.calls_from_program = if inside.contains_key(name) {
                0
            } else {
                calls_from_program(profile, name, &expensive, &inside).min(f.calls)
            };
            f.verdict = match &reason {
                Some(reason) => format!("kept local: {reason}"),
                None => format!(
                    "moves: {} averaging {}, at least {} x the {} an invocation costs (profile)",
                    calls_text(f.calls),
                    duration(f.mean_micros),
                    f.factor,
                    duration(f.invocation_micros)
                ),
            };
            (name.to_owned(), (f, reason))
        })
        .collect()
}

/// `13,019 calls averaging 6 µs (profile)`; when the payload, not the round trip, makes
/// the invocation expensive, the reason says so.
fn cheap_reason(f: &Figures) -> String {
    let bytes = f.arg_bytes + f.result_bytes;
    if bytes < 1024 {
        return format!(
            "{} averaging {} (profile)",
            calls_text(f.calls),
            duration(f.mean_micros)
        );
    }
    format!(
        "{} averaging {}; with {} KB of arguments and results, moving pays from {} (profile)",
        calls_text(f.calls),
        duration(f.mean_micros),
        count(bytes.div_ceil(1024)),
        duration(f.threshold_micros)
    )
}

fn figures_of(guide: &Guide, name: &str, remote_calls: RemoteCalls) -> Figures {
    let unit = guide.profile.units.get(name);
    let (calls, inclusive, own) = unit.map_or((0, 0, 0), |u| {
        let calls = match remote_calls {
            RemoteCalls::Driver => u.calls,
            RemoteCalls::All => u.frames,
        };
        (calls, u.inclusive_ns, u.self_ns)
    });
    let per_call = |ns: u64| {
        if calls == 0 {
            0.0
        } else {
            ns as f64 / calls as f64 / 1000.0
        }
    };
    let arg_bytes = unit.map_or(0, |u| u.arg_bytes.mean);
    let result_bytes = unit.map_or(0, |u| u.result_bytes.mean);
    let invocation_micros =
        guide.invocation_micros + (arg_bytes + result_bytes) as f64 / 1024.0 * MICROS_PER_KB;
    Figures {
        calls,
        calls_from_program: 0,
        mean_micros: round2(per_call(inclusive)),
        mean_self_micros: round2(per_call(own)),
        arg_bytes,
        result_bytes,
        invocation_micros: round2(invocation_micros),
        factor: guide.factor,
        threshold_micros: round2(guide.factor * invocation_micros),
        verdict: String::new(),
    }
}

/// Expensive units whose every call comes from moved units (or from units that run
/// inside them), with the moved units they run in. A fixed point: "inside" only grows,
/// so cycles between units settle.
fn runs_inside_moved<'p>(
    profile: &'p Profile,
    expensive: &BTreeSet<&str>,
) -> BTreeMap<&'p str, Vec<String>> {
    let mut inside: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    loop {
        let mut changed = false;
        for name in profile.units.keys() {
            if inside.contains_key(name.as_str()) {
                continue;
            }
            let callers: Vec<&str> = profile.callers(name).map(|e| e.caller.as_str()).collect();
            // A caller whose code runs in the cloud: it moves, or runs inside one that does.
            let remote = |c: &str| inside.contains_key(c) || expensive.contains(c);
            if callers.is_empty() || !callers.iter().all(|c| remote(c)) {
                continue;
            }
            let mut movers: BTreeSet<String> = BTreeSet::new();
            for caller in &callers {
                match inside.get(caller) {
                    Some(outer) => movers.extend(outer.iter().cloned()),
                    None => {
                        movers.insert((*caller).to_owned());
                    }
                }
            }
            if movers.is_empty() {
                continue;
            }
            inside.insert(name, movers.into_iter().collect());
            changed = true;
        }
        if !changed {
            return outermost(inside);
        }
    }
}

/// Names each unit's movers by the units that really move: a mover recorded before it
/// was found to run inside another is replaced by that one's movers.
fn outermost(mut inside: BTreeMap<&str, Vec<String>>) -> BTreeMap<&str, Vec<String>> {
    // Each round replaces one level of nesting; there are fewer levels than units.
    for _ in 0..=inside.len() {
        let snapshot = inside.clone();
        let mut changed = false;
        for movers in inside.values_mut() {
            let resolved: BTreeSet<String> = movers
                .iter()
                .flat_map(|m| match snapshot.get(m.as_str()) {
                    Some(outer) => outer.clone(),
                    None => vec![m.clone()],
                })
                .collect();
            let resolved: Vec<String> = resolved.into_iter().collect();
            if resolved != *movers {
                *movers = resolved;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    inside
}

/// Calls of `name` from code that stays in the program: module code and units that
/// neither move nor run inside a moved one.
fn calls_from_program(
    profile: &Profile,
    name: &str,
    expensive: &BTreeSet<&str>,
    inside: &BTreeMap<&str, Vec<String>>,
) -> u64 {
    profile
        .callers(name)
        .filter(|e| {
            let c = e.caller.as_str();
            c == MODULE_CALLER || (!expensive.contains(c) && !inside.contains_key(c))
        })
        .map(|e| e.calls)
        .sum()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `13,019`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn calls_text(n: u64) -> String {
    if n == 1 {
        "1 call".to_owned()
    } else {
        format!("{} calls", count(n))
    }
}

/// `6 µs`, `25.3 ms`, `1.25 s`.
pub fn duration(micros: f64) -> String {
    if micros < 1000.0 {
        format!("{} µs", count(micros.round() as u64))
    } else if micros < 1_000_000.0 {
        format!("{:.1} ms", micros / 1000.0)
    } else {
        format!("{:.2} s", micros / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Edge, Sizes, UnitProfile};

    fn unit(kind: &str, calls: u64, inclusive_ms: u64) -> UnitProfile {
        UnitProfile {
            kind: kind.to_owned(),
            calls,
            frames: calls,
            inclusive_ns: inclusive_ms * 1_000_000,
            self_ns: inclusive_ms * 1_000_000,
            methods: BTreeMap::new(),
            arg_bytes: Sizes::default(),
            result_bytes: Sizes::default(),
            cannot_travel: 0,
        }
    }

    fn edge(caller: &str, callee: &str, calls: u64) -> Edge {
        Edge {
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            calls,
        }
    }

    fn guide(units: &[(&str, UnitProfile)], edges: Vec<Edge>) -> Guide {
        Guide::new(Profile {
            version: 1,
            program: "app.py".into(),
            source_sha256: String::new(),
            python: "3.12.1".into(),
            mechanism: "sys.monitoring".into(),
            size_encoder: "test".into(),
            wall_ns: 0,
            exit_code: 0,
            units: units
                .iter()
                .map(|(n, u)| ((*n).to_owned(), u.clone()))
                .collect(),
            edges,
        })
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_cheap_class_in_a_hot_loop_stays_local_with_its_figures() {
        let g = guide(
            &[("Vec", unit("class", 13_019, 78))],
            vec![edge("<module>", "Vec", 13_019)],
        );
        let decided = decide(&g, &names(&["Vec"]), RemoteCalls::Driver);
        let (figures, reason) = &decided["Vec"];
        assert_eq!(
            reason.as_deref(),
            Some("13,019 calls averaging 6 µs (profile)")
        );
        assert_eq!(figures.threshold_micros, 5000.0);
        assert_eq!(figures.calls_from_program, 13_019);
    }

    #[test]
    fn the_outermost_expensive_call_moves_and_its_expensive_callee_runs_inside_it() {
        let g = guide(
            &[
                ("outer", unit("function", 2, 400)),
                ("inner", unit("function", 10, 300)),
                ("leaf", unit("function", 5, 100)),
            ],
            vec![
                edge("<module>", "outer", 2),
                edge("outer", "inner", 10),
                edge("inner", "leaf", 5),
            ],
        );
        let decided = decide(&g, &names(&["outer", "inner", "leaf"]), RemoteCalls::Driver);
        assert_eq!(decided["outer"].1, None);
        assert_eq!(
            decided["inner"].1.as_deref(),
            Some("runs inside the cloud function of outer: all 10 calls come from it (profile)")
        );
        assert_eq!(
            decided["leaf"].1.as_deref(),
            Some("runs inside the cloud function of outer: all 5 calls come from it (profile)")
        );
        // With every call an invocation, nothing runs inside anything.
        let all = decide(&g, &names(&["outer", "inner", "leaf"]), RemoteCalls::All);
        assert!(all.values().all(|(_, reason)| reason.is_none()));
    }

    #[test]
    fn an_expensive_unit_also_called_from_the_program_moves() {
        let g = guide(
            &[
                ("outer", unit("function", 1, 400)),
                ("inner", unit("function", 3, 300)),
            ],
            vec![
                edge("<module>", "outer", 1),
                edge("<module>", "inner", 1),
                edge("outer", "inner", 2),
            ],
        );
        let decided = decide(&g, &names(&["outer", "inner"]), RemoteCalls::Driver);
        assert_eq!(decided["inner"].1, None);
        assert_eq!(decided["inner"].0.calls_from_program, 1);
    }

    #[test]
    fn units_the_profile_never_saw_stay_local() {
        let g = guide(&[], vec![]);
        let decided = decide(&g, &names(&["unused"]), RemoteCalls::Driver);
        assert_eq!(
            decided["unused"].1.as_deref(),
            Some("never called in the profile run (profile)")
        );
    }

    #[test]
    fn durations_and_counts_read_as_people_write_them() {
        assert_eq!(count(13_019), "13,019");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(duration(5.99), "6 µs");
        assert_eq!(duration(25_300.0), "25.3 ms");
        assert_eq!(duration(1_250_000.0), "1.25 s");
    }
}
