//! parse stage.
