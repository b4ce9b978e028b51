//! lambada: FaaSify Python programs.
//!
//! The pipeline, one module per stage, data flowing one way:
//! `parse` → `analysis` → `plan` → `rewrite` + `codegen` → `package` → `deploy`,
//! with `diff` for review and `host` as the embedded Lambda-compatible endpoint.
//! `cli` only wires the stages together.

pub mod analysis;
pub mod cli;
pub mod codegen;
pub mod deploy;
pub mod diff;
pub mod host;
pub mod package;
pub mod parse;
pub mod plan;
pub mod rewrite;
