//! package stage.
