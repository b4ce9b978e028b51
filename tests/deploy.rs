//! The deployer (`lambada::deploy`) against moto, a scripted mock Lambda endpoint and
//! unreachable endpoints. Servers run on 127.0.0.1 and stop with the tests.
//! Needs the Python test environment (`tests/run` creates it) for moto.

#[path = "deploy/mock.rs"]
mod mock;
#[path = "deploy/moto.rs"]
mod moto;
#[path = "deploy/offline.rs"]
mod offline;
#[path = "deploy/support.rs"]
mod support;
