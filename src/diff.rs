//! diff stage.
