//! host stage.
