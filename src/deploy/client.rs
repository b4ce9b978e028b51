//! Building the Lambda client: aws-config's standard chain (environment, profiles,
//! `AWS_ENDPOINT_URL_LAMBDA`/`AWS_ENDPOINT_URL`), rustls with ring, a short connect
//! timeout, and no SDK retries (the deployer retries itself, see `retry`).

use std::net::IpAddr;
use std::time::Duration;

use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_lambda::config::SharedHttpClient;
use aws_smithy_http_client::tls;
use aws_types::service_config::ServiceConfigKey;

use super::{DeployError, DeployOptions};

/// moto's account; the embedded host accepts any role.
pub const LOCAL_PLACEHOLDER_ROLE: &str = "arn:aws:iam::123456789012:role/lambada";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A hung endpoint must not hang the deploy; uploads of up to 50 MB fit comfortably.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_REGION: &str = "us-east-1";

/// Where the deploy goes, resolved once.
#[derive(Debug, Clone)]
pub struct Target {
    pub client: aws_sdk_lambda::Client,
    /// The endpoint URL requests go to (the standard AWS one when none is configured).
    pub endpoint: String,
    pub region: String,
    /// The configuration the client was built from (credentials, region, endpoint), for
    /// other services' clients (IAM, see `role`).
    pub sdk_config: SdkConfig,
    /// The endpoint is on this machine (loopback).
    pub local: bool,
}

/// Resolves endpoint, region and credentials; fails before any request when no
/// credentials are found. (The role is `role::resolve`'s.)
pub async fn connect(opts: &DeployOptions) -> Result<Target, DeployError> {
    let connected = connect_sdk(opts).await?;
    Ok(Target {
        client: aws_sdk_lambda::Client::new(&connected.sdk_config),
        endpoint: connected.endpoint,
        region: connected.region,
        sdk_config: connected.sdk_config,
        local: connected.local,
    })
}

/// An AWS configuration resolved as the deployer resolves it, for any service's client
/// (the lifecycle commands also read CloudWatch Logs with it).
#[derive(Debug, Clone)]
pub struct Connected {
    pub sdk_config: SdkConfig,
    /// The Lambda endpoint requests go to (the standard AWS one when none is configured).
    pub endpoint: String,
    pub region: String,
    /// A loopback endpoint: the embedded host, moto, LocalStack.
    pub local: bool,
}

/// The endpoint asked for by option or environment, checked.
fn requested_endpoint(opts: &DeployOptions) -> Result<Option<String>, DeployError> {
    if let Some(endpoint) = &opts.endpoint {
        check_endpoint_url(endpoint)?;
    }
    Ok(opts
        .endpoint
        .clone()
        .or_else(|| non_empty_env("AWS_ENDPOINT_URL_LAMBDA"))
        .or_else(|| non_empty_env("AWS_ENDPOINT_URL")))
}

/// Endpoint, region and credentials, without the role (which only creating functions
/// needs); fails before any request when no credentials are found.
pub async fn connect_sdk(opts: &DeployOptions) -> Result<Connected, DeployError> {
    let local = requested_endpoint(opts)?
        .as_deref()
        .is_some_and(is_loopback_url);
    let http_client = http_client();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client.clone())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &opts.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if local {
        loader = loader.region(local_region_chain(opts));
        // A local endpoint never needs the instance metadata service, SSO or ECS: keep to
        // environment and profile, then any key (the embedded host without accounts and
        // moto accept anything).
        loader = loader.credentials_provider(local_credentials_chain(opts, &http_client));
    } else if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let mut sdk_config = loader.load().await;
    if sdk_config.region().is_none() {
        sdk_config = sdk_config
            .into_builder()
            .region(Region::from_static(DEFAULT_REGION))
            .build();
    }

    let region = sdk_config
        .region()
        .map_or_else(|| DEFAULT_REGION.to_string(), |r| r.to_string());
    check_credentials(&sdk_config).await?;
    let endpoint =
        effective_endpoint(&sdk_config, opts).unwrap_or_else(|| aws_endpoint_for_region(&region));
    Ok(Connected {
        sdk_config,
        endpoint,
        region,
        local,
    })
}

fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Local endpoints: option, environment, profile, us-east-1; never the instance
/// metadata service.
fn local_region_chain(opts: &DeployOptions) -> RegionProviderChain {
    let profile = aws_config::profile::ProfileFileRegionProvider::builder();
    let profile = match &opts.profile {
        Some(name) => profile.profile_name(name),
        None => profile,
    };
    RegionProviderChain::first_try(opts.region.clone().map(Region::new))
        .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .or_else(profile.build())
        .or_else(Region::from_static(DEFAULT_REGION))
}

fn local_credentials_chain(
    opts: &DeployOptions,
    http_client: &SharedHttpClient,
) -> CredentialsProviderChain {
    let provider_config = ProviderConfig::without_region().with_http_client(http_client.clone());
    let profile =
        aws_config::profile::ProfileFileCredentialsProvider::builder().configure(&provider_config);
    let profile = match &opts.profile {
        Some(name) => profile.profile_name(name),
        None => profile,
    };
    CredentialsProviderChain::first_try(
        "Environment",
        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else("Profile", profile.build())
    .or_else(
        "LocalEndpoint",
        Credentials::new("lambada", "lambada", None, None, "lambada-local"),
    )
}

async fn check_credentials(sdk_config: &SdkConfig) -> Result<(), DeployError> {
    let Some(provider) = sdk_config.credentials_provider() else {
        return Err(DeployError::NoCredentials {
            reason: "no credentials provider is configured".into(),
        });
    };
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| DeployError::NoCredentials {
            reason: super::retry::error_chain(&e),
        })
}

/// The endpoint the SDK will use, with its precedence: explicit option, then
/// `AWS_ENDPOINT_URL_LAMBDA` (or the profile's lambda `endpoint_url`), then
/// `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`).
fn effective_endpoint(sdk_config: &SdkConfig, opts: &DeployOptions) -> Option<String> {
    if let Some(endpoint) = &opts.endpoint {
        return Some(endpoint.clone());
    }
    let key = ServiceConfigKey::builder()
        .service_id("Lambda")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk_config
        .service_config()
        .and_then(|conf| conf.load_config(key))
        .or_else(|| sdk_config.endpoint_url().map(str::to_string))
}

fn aws_endpoint_for_region(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("https://lambda.{region}.amazonaws.com.cn")
    } else {
        format!("https://lambda.{region}.amazonaws.com")
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn check_endpoint_url(endpoint: &str) -> Result<(), DeployError> {
    let ok = (endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        && url_host(endpoint).is_some_and(|h| !h.is_empty());
    if ok {
        Ok(())
    } else {
        Err(DeployError::InvalidEndpoint {
            endpoint: endpoint.to_string(),
        })
    }
}

/// The host part of `scheme://[userinfo@]host[:port][/path]`, brackets removed from IPv6.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(host_port.split(':').next().unwrap_or(host_port))
}

/// Loopback endpoints are local Lambda look-alikes: the embedded host, moto, LocalStack.
pub fn is_loopback_url(url: &str) -> bool {
    let Some(host) = url_host(url) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "localhost.localstack.cloud"
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_local() {
        assert!(is_loopback_url("http://127.0.0.1:10000"));
        assert!(is_loopback_url("http://127.3.2.1"));
        assert!(is_loopback_url("http://localhost:4566/"));
        assert!(is_loopback_url("http://[::1]:5000"));
        assert!(is_loopback_url("http://[::ffff:127.0.0.1]:5000"));
        assert!(is_loopback_url("http://user:pw@127.0.0.1:1/x"));
        assert!(is_loopback_url("https://localhost.localstack.cloud:4566"));
        assert!(!is_loopback_url("https://lambda.us-east-1.amazonaws.com"));
        assert!(!is_loopback_url("http://10.0.0.1:10000"));
        assert!(!is_loopback_url("127.0.0.1:10000"));
    }

    #[test]
    fn endpoint_urls_need_a_scheme_and_host() {
        assert!(check_endpoint_url("http://127.0.0.1:9").is_ok());
        assert!(check_endpoint_url("127.0.0.1:9").is_err());
        assert!(check_endpoint_url("http://").is_err());
    }

    #[test]
    fn aws_endpoints_follow_the_partition() {
        assert_eq!(
            aws_endpoint_for_region("eu-west-1"),
            "https://lambda.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            aws_endpoint_for_region("cn-north-1"),
            "https://lambda.cn-north-1.amazonaws.com.cn"
        );
    }
}
