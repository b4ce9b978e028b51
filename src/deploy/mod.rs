//! deploy stage.
