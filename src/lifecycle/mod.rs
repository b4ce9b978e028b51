//! The lifecycle of deployed programs: `lambada list`, `remove`, `deploy --prune`,
//! `invoke`, `call`, `logs` and `stats`. Each reads what the deploy stage (and the
//! embedded host) left behind; none changes how programs are compiled.
//!
//! Files: `functions` (a program's deployed functions: list, compare with the source,
//! remove, prune), `invoke` (one raw invocation), `call` (one call with Python
//! arguments through the runtime), `logs` (CloudWatch Logs), `stats` and `cost` (the
//! invocation log and what it would cost), `commands` (the CLI's arguments and exit
//! statuses for each command).

pub mod call;
pub mod commands;
pub mod cost;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod stats;

use crate::deploy::{self, DeployError, DeployOptions};

/// Clients for one endpoint, resolved as the deployer resolves them.
#[derive(Debug, Clone)]
pub struct Connection {
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The Lambda endpoint, for messages.
    pub endpoint: String,
    pub region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Connect(#[from] DeployError),
    #[error("{operation} {target} failed at {endpoint}: {message}")]
    Api {
        operation: &'static str,
        target: String,
        endpoint: String,
        message: String,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl Connection {
    pub async fn open(opts: &DeployOptions) -> Result<Connection, LifecycleError> {
        let connected = deploy::connect_sdk(opts).await?;
        let mut logs = aws_sdk_cloudwatchlogs::config::Builder::from(&connected.sdk_config);
        // The embedded host (and moto) answer CloudWatch Logs on the Lambda endpoint;
        // AWS_ENDPOINT_URL_LOGS, when set, still wins.
        let logs_env = std::env::var("AWS_ENDPOINT_URL_LOGS").is_ok_and(|v| !v.is_empty());
        if connected.local && !logs_env {
            logs = logs.endpoint_url(&connected.endpoint);
        }
        Ok(Connection {
            lambda: aws_sdk_lambda::Client::new(&connected.sdk_config),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs.build()),
            endpoint: connected.endpoint,
            region: connected.region,
        })
    }

    /// A failed request, named by what it was for.
    pub fn api_error<E>(&self, operation: &'static str, target: &str, err: E) -> LifecycleError
    where
        E: std::error::Error + 'static,
    {
        LifecycleError::Api {
            operation,
            target: target.to_owned(),
            endpoint: self.endpoint.clone(),
            message: service_message(&err),
        }
    }
}

/// The service's own message when it sent one (`ResourceNotFoundException: Function
/// not found: ...`), else the chain of causes (connection refused...).
fn service_message(err: &(dyn std::error::Error + 'static)) -> String {
    let text = aws_sdk_lambda::error::DisplayErrorContext(err).to_string();
    text.strip_prefix("unhandled error (")
        .map_or(text.clone(), |rest| rest.to_owned())
}

/// Runs a lifecycle future on a runtime of its own (the CLI is not async).
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, LifecycleError>>,
) -> Result<T, LifecycleError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LifecycleError::Runtime)?
        .block_on(future)
}
