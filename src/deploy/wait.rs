//! A function's state on the endpoint, and waiting until it may take its next step
//! (Lambda answers 409 "An update is in progress" to anything sent too early).

use std::time::Instant;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::{FunctionConfiguration, LastUpdateStatus, State};

use super::retry::{self, ApiError, RetryPolicy, Waits};

/// The fields of a function's configuration the deployer reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteFunction {
    pub function_arn: Option<String>,
    pub code_sha256: Option<String>,
    pub memory: Option<i32>,
    pub timeout: Option<i32>,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    /// ARNs of the function's layers, in order.
    pub layers: Vec<String>,
    pub state: Option<State>,
    pub state_reason: Option<String>,
    pub last_update_status: Option<LastUpdateStatus>,
    pub last_update_status_reason: Option<String>,
}

fn layer_arns(layers: Option<Vec<aws_sdk_lambda::types::Layer>>) -> Vec<String> {
    layers
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| l.arn)
        .collect()
}

impl From<FunctionConfiguration> for RemoteFunction {
    fn from(c: FunctionConfiguration) -> Self {
        RemoteFunction {
            function_arn: c.function_arn,
            code_sha256: c.code_sha256,
            memory: c.memory_size,
            timeout: c.timeout,
            handler: c.handler,
            runtime: c.runtime.map(|r| r.as_str().to_string()),
            layers: layer_arns(c.layers),
            state: c.state,
            state_reason: c.state_reason,
            last_update_status: c.last_update_status,
            last_update_status_reason: c.last_update_status_reason,
        }
    }
}

impl From<GetFunctionConfigurationOutput> for RemoteFunction {
    fn from(c: GetFunctionConfigurationOutput) -> Self {
        RemoteFunction {
            function_arn: c.function_arn,
            code_sha256: c.code_sha256,
            memory: c.memory_size,
            timeout: c.timeout,
            handler: c.handler,
            runtime: c.runtime.map(|r| r.as_str().to_string()),
            layers: layer_arns(c.layers),
            state: c.state,
            state_reason: c.state_reason,
            last_update_status: c.last_update_status,
            last_update_status_reason: c.last_update_status_reason,
        }
    }
}

/// Where a function stands for the deployer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Active (or absent fields: some hosts omit them) and no update in progress.
    Settled,
    /// Pending, or an update in progress.
    Busy,
    /// Inactive (idle for long): updates are accepted and reactivate it.
    Inactive,
    /// State Failed or LastUpdateStatus Failed, with the service's reason.
    Failed(String),
}

impl RemoteFunction {
    pub fn readiness(&self) -> Readiness {
        if let Some(State::Failed) = self.state {
            return Readiness::Failed(format!(
                "the function is in state Failed: {}",
                self.state_reason.as_deref().unwrap_or("no reason given")
            ));
        }
        if let Some(LastUpdateStatus::Failed) = self.last_update_status {
            return Readiness::Failed(format!(
                "the last update failed: {}",
                self.last_update_status_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ));
        }
        if matches!(self.state, Some(State::Pending))
            || matches!(self.last_update_status, Some(LastUpdateStatus::InProgress))
        {
            return Readiness::Busy;
        }
        if matches!(self.state, Some(State::Inactive)) {
            return Readiness::Inactive;
        }
        Readiness::Settled
    }

    pub fn describe_state(&self) -> String {
        format!(
            "State {}, LastUpdateStatus {}",
            self.state.as_ref().map_or("unknown", |s| s.as_str()),
            self.last_update_status
                .as_ref()
                .map_or("unknown", |s| s.as_str())
        )
    }
}

/// Polls GetFunctionConfiguration with backoff until the function is settled (Active,
/// last update Successful). Fails with the service's reason when it reaches a Failed
/// state, or when the policy's bound passes.
pub async fn until_settled(
    client: &Client,
    policy: &RetryPolicy,
    function_name: &str,
) -> Result<RemoteFunction, String> {
    let conf = until_not_busy(client, policy, function_name).await?;
    match conf.readiness() {
        Readiness::Failed(reason) => Err(reason),
        _ => Ok(conf),
    }
}

/// Polls GetFunctionConfiguration with backoff until the function is neither Pending nor
/// in the middle of an update, whatever the outcome.
pub async fn until_not_busy(
    client: &Client,
    policy: &RetryPolicy,
    function_name: &str,
) -> Result<RemoteFunction, String> {
    let start = Instant::now();
    let mut attempt = 1;
    loop {
        let conf: RemoteFunction = retry::with_retries(policy, Waits::default(), || async {
            client
                .get_function_configuration()
                .function_name(function_name)
                .customize()
                .config_override(retry::small_request(policy))
                .send()
                .await
                .map_err(ApiError::from)
        })
        .await
        .map_err(|e| e.to_string())?
        .into();
        if conf.readiness() != Readiness::Busy {
            return Ok(conf);
        }
        if start.elapsed() >= policy.ready_for {
            return Err(format!(
                "still {} after {} s",
                conf.describe_state(),
                policy.ready_for.as_secs()
            ));
        }
        // 0.2 s, 0.4 s, 0.8 s ... up to the policy's max delay.
        tokio::time::sleep(retry::backoff(policy, attempt)).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_state_and_last_update_status() {
        let mut f = RemoteFunction::default();
        assert_eq!(f.readiness(), Readiness::Settled);
        f.state = Some(State::Pending);
        assert_eq!(f.readiness(), Readiness::Busy);
        f.state = Some(State::Active);
        f.last_update_status = Some(LastUpdateStatus::InProgress);
        assert_eq!(f.readiness(), Readiness::Busy);
        f.last_update_status = Some(LastUpdateStatus::Successful);
        assert_eq!(f.readiness(), Readiness::Settled);
        f.last_update_status = Some(LastUpdateStatus::Failed);
        f.last_update_status_reason = Some("bad zip".into());
        assert_eq!(
            f.readiness(),
            Readiness::Failed("the last update failed: bad zip".into())
        );
        f.state = Some(State::Inactive);
        f.last_update_status = None;
        assert_eq!(f.readiness(), Readiness::Inactive);
    }
}
