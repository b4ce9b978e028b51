//! codegen stage.
