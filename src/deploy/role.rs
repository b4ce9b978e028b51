//! The execution role when none is given (`--role`, `LAMBADA_ROLE_ARN`): a role named
//! after the program (`lambada-<prefix><module>`), with the basic execution policy,
//! created through IAM or reused when it exists. The same code serves AWS and local
//! endpoints that check roles (moto), pointed at the endpoint; a local endpoint without
//! IAM (the embedded host accepts any role) gets the placeholder role.
//!
//! Only a role created in this run is young enough to be still propagating: only then
//! is Lambda's "role cannot be assumed" waited out (bounded, see `retry`); any other
//! rejection of a role fails at once with the endpoint's message.

use aws_config::SdkConfig;

use super::DeployError;
use super::client::{LOCAL_PLACEHOLDER_ROLE, Target};

/// The AWS-managed policy that lets a function write its logs.
pub const BASIC_EXECUTION_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";

/// Lets Lambda assume the role.
const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The execution role functions are created with, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--role` / `LAMBADA_ROLE_ARN`.
    Given,
    /// Found by name in IAM.
    Reused,
    /// Created in this run: may not be assumable for a few seconds.
    Created,
    /// A local endpoint without IAM, which accepts any role.
    Placeholder,
}

impl Role {
    /// Whether Lambda's "cannot be assumed" may only mean "not propagated yet".
    pub fn is_fresh(&self) -> bool {
        self.origin == Origin::Created
    }
}

/// `lambada-<prefix><module>` from a function name (`<prefix><module>-<key>`) and its
/// key, within IAM's 64 characters and its alphabet.
pub fn role_name(function_name: &str, key: &str) -> String {
    let program = function_name
        .strip_suffix(key)
        .and_then(|rest| rest.strip_suffix('-'))
        .unwrap_or(function_name);
    let name: String = format!("lambada-{program}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.chars().take(64).collect()
}

/// The role to create functions with: the given one, else the program's role from IAM
/// (created when missing), else on a local endpoint without IAM the placeholder.
pub async fn resolve(
    target: &Target,
    given: Option<&str>,
    name: &str,
) -> Result<Role, DeployError> {
    if let Some(arn) = given {
        return Ok(Role {
            arn: arn.to_owned(),
            origin: Origin::Given,
        });
    }
    let client = iam_client(
        &target.sdk_config,
        target.local.then_some(&target.endpoint[..]),
    );
    match ensure(&client, name, target.local).await {
        Ok(role) => Ok(role),
        Err(_) if target.local => Ok(Role {
            arn: LOCAL_PLACEHOLDER_ROLE.to_owned(),
            origin: Origin::Placeholder,
        }),
        Err(message) => Err(DeployError::RoleNotCreated {
            name: name.to_owned(),
            message,
        }),
    }
}

/// IAM at the Lambda endpoint when that is local (one port serves every service, as
/// moto's does); otherwise wherever the configuration says (AWS's global endpoint, or
/// `--endpoint`/`AWS_ENDPOINT_URL` for every service).
fn iam_client(sdk_config: &SdkConfig, local_endpoint: Option<&str>) -> aws_sdk_iam::Client {
    let mut config = aws_sdk_iam::config::Builder::from(sdk_config);
    if let Some(endpoint) = local_endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_iam::Client::from_conf(config.build())
}

/// GetRole, else CreateRole and AttachRolePolicy. The error is the service's message.
/// A local endpoint may lack AWS's managed policies (moto does by default): there the
/// role is enough.
async fn ensure(client: &aws_sdk_iam::Client, name: &str, local: bool) -> Result<Role, String> {
    match client.get_role().role_name(name).send().await {
        Ok(found) => {
            if let Some(role) = found.role() {
                return Ok(Role {
                    arn: role.arn().to_owned(),
                    origin: Origin::Reused,
                });
            }
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) => {}
        Err(err) => return Err(super::retry::error_chain(&err)),
    }
    let created = client
        .create_role()
        .role_name(name)
        .assume_role_policy_document(TRUST_POLICY)
        .description("Execution role of the cloud functions lambada deploys for this program")
        .send()
        .await;
    let arn = match created {
        Ok(created) => created
            .role()
            .map(|r| r.arn().to_owned())
            .ok_or_else(|| "CreateRole answered without a role".to_owned())?,
        // Another deploy of the same program created it meanwhile.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) =>
        {
            let found = client
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| super::retry::error_chain(&e))?;
            return found
                .role()
                .map(|r| Role {
                    arn: r.arn().to_owned(),
                    origin: Origin::Reused,
                })
                .ok_or_else(|| "GetRole answered without a role".to_owned());
        }
        Err(err) => return Err(super::retry::error_chain(&err)),
    };
    let attached = client
        .attach_role_policy()
        .role_name(name)
        .policy_arn(BASIC_EXECUTION_POLICY)
        .send()
        .await;
    if let Err(err) = attached
        && !local
    {
        return Err(format!(
            "role {name} was created, but attaching {BASIC_EXECUTION_POLICY} failed: {}",
            super::retry::error_chain(&err)
        ));
    }
    Ok(Role {
        arn,
        origin: Origin::Created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_is_named_after_the_programs_prefix_and_module() {
        assert_eq!(role_name("shop-app-work", "work"), "lambada-shop-app");
        assert_eq!(role_name("app-Point", "Point"), "lambada-app");
        assert_eq!(role_name(&format!("{}-f", "x".repeat(80)), "f").len(), 64);
    }
}
