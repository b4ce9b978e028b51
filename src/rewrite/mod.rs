//! rewrite stage.
