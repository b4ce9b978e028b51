//! SigV4 verification. The request is rebuilt from exactly the headers the client named
//! in `SignedHeaders`, signed again with `aws-sigv4` at the client's `X-Amz-Date` with
//! the secret of its access key, and the signatures are compared in constant time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use axum::http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};

use super::credentials::Sessions;
use super::error::ApiError;
use super::util::{constant_time_eq, parse_amz_date, utc_parts};

/// Requests older or newer than this are refused, as AWS does.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The region clients sign for when nothing says otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Who sent a request: the tenant its access key belongs to and the region it signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    pub access_key: Option<String>,
    pub region: String,
    /// Signed with a worker's session credentials: a nested invocation.
    pub from_worker: bool,
}

#[derive(Debug, Clone)]
struct Secret {
    secret_key: String,
    tenant: String,
}

/// The access keys the host accepts. Empty: signatures are not checked.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, Secret>,
    /// The workers' session credentials (always valid next to the long-term keys).
    sessions: Arc<Sessions>,
}

/// Request headers that change what a request means: when present they must be signed,
/// or anyone on the path could turn a signed RequestResponse call into an Event.
const MEANINGFUL_HEADERS: [&str; 4] = [
    "x-amz-invocation-type",
    "x-amz-log-type",
    "x-amz-client-context",
    "x-amz-security-token",
];

/// Whether `region` names an AWS region (`us-east-1`, `eu-central-2`, `us-gov-west-1`,
/// `cn-north-1`, ...).
pub fn valid_region(region: &str) -> bool {
    const AREAS: [&str; 10] = ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", "cn"];
    const DIRECTIONS: [&str; 9] = [
        "east",
        "west",
        "north",
        "south",
        "central",
        "northeast",
        "southeast",
        "northwest",
        "southwest",
    ];
    let parts: Vec<&str> = region.split('-').collect();
    let (area, middle, number) = match parts.as_slice() {
        [area, direction, number] => (*area, vec![*direction], *number),
        [area, partition, direction, number] => (*area, vec![*partition, *direction], *number),
        _ => return false,
    };
    let direction = middle[middle.len() - 1];
    let partition_ok =
        middle.len() == 1 || ["gov", "iso", "isob", "isoe", "isof"].contains(&middle[0]);
    AREAS.contains(&area)
        && partition_ok
        && DIRECTIONS.contains(&direction)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn incomplete(message: &str) -> ApiError {
    ApiError::forbidden("IncompleteSignatureException", message)
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, ApiError> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        incomplete("Unsupported authorization scheme: only AWS4-HMAC-SHA256 is accepted")
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let field = field.trim();
        if let Some(v) = field.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = field.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = field.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(incomplete(
            "Credential should be scoped to a valid region and service",
        ));
    };
    if !valid_region(region) {
        return Err(ApiError::forbidden(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to a valid region, not '{}'.",
                region.escape_default()
            ),
        ));
    }
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed.split(';').filter(|h| !h.is_empty()).collect(),
        signature,
    })
}

impl Verifier {
    pub fn with_sessions(sessions: Arc<Sessions>) -> Verifier {
        Verifier {
            keys: HashMap::new(),
            sessions,
        }
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    pub fn add_key(&mut self, access_key: &str, secret_key: &str, tenant: &str) {
        self.keys.insert(
            access_key.to_string(),
            Secret {
                secret_key: secret_key.to_string(),
                tenant: tenant.to_string(),
            },
        );
    }

    /// The tenant of a basic-auth `user:password` pair (OpenWhisk's API key `uuid:key`):
    /// a configured access key and its secret, or a worker's session credentials.
    /// With no keys configured, any pair but a session's is the anonymous tenant's.
    pub fn basic_tenant(
        &self,
        user: &str,
        password: &str,
        now: SystemTime,
        anonymous_tenant: &str,
    ) -> Option<String> {
        if let Some(secret) = self.keys.get(user) {
            return constant_time_eq(secret.secret_key.as_bytes(), password.as_bytes())
                .then(|| secret.tenant.clone());
        }
        if let Some(session) = self.sessions.get(user) {
            let valid = session.expires > now
                && constant_time_eq(session.secret_access_key.as_bytes(), password.as_bytes());
            return valid.then_some(session.tenant);
        }
        self.is_open().then(|| anonymous_tenant.to_string())
    }

    pub fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the request's signature and says who sent it. `service` is the one the
    /// credential scope must name (`lambda`, or `sts` for GetCallerIdentity). With no
    /// keys configured every request is accepted as the anonymous tenant, but a region
    /// it names must still be a region.
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
        anonymous_tenant: &str,
        service: &str,
    ) -> Result<Caller, ApiError> {
        if self.is_open() {
            let auth = match headers.get("authorization").map(|v| v.to_str()) {
                Some(Ok(value)) => Some(parse_authorization(value)?),
                Some(Err(_)) => return Err(incomplete("Authorization header is not ASCII")),
                None => None,
            };
            let access_key = auth.as_ref().map(|a| a.access_key.to_string());
            let from_worker = access_key
                .as_deref()
                .is_some_and(|key| self.sessions.get(key).is_some());
            return Ok(Caller {
                tenant: anonymous_tenant.to_string(),
                access_key,
                region: auth.map_or_else(|| DEFAULT_REGION.to_string(), |a| a.region.to_string()),
                from_worker,
            });
        }
        let Some(value) = headers.get("authorization") else {
            return Err(ApiError::forbidden(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let value = value
            .to_str()
            .map_err(|_| incomplete("Authorization header is not ASCII"))?;
        let auth = parse_authorization(value)?;
        if auth.service != service {
            return Err(ApiError::forbidden(
                "InvalidSignatureException",
                format!(
                    "Credential should be scoped to correct service: '{service}'. ({} given)",
                    auth.service.escape_default()
                ),
            ));
        }
        for name in MEANINGFUL_HEADERS {
            if headers.contains_key(name) && !auth.signed_headers.contains(&name) {
                return Err(ApiError::forbidden(
                    "InvalidSignatureException",
                    format!("The header '{name}' must be signed."),
                ));
            }
        }
        let (secret_key, tenant, from_worker) = match self.keys.get(auth.access_key) {
            Some(secret) => (secret.secret_key.clone(), secret.tenant.clone(), false),
            None => {
                let session = self.session(auth.access_key, headers, now)?;
                (session.secret_access_key, session.tenant, true)
            }
        };
        let signed_at = check_date(headers, auth.date, now)?;
        let expected =
            expected_signature(method, uri, headers, body, &auth, &secret_key, signed_at)?;
        if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            return Err(ApiError::forbidden(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method.",
            ));
        }
        Ok(Caller {
            tenant,
            access_key: Some(auth.access_key.to_string()),
            region: auth.region.to_string(),
            from_worker,
        })
    }

    /// The live, unexpired session of `access_key`, whose token the request carries.
    fn session(
        &self,
        access_key: &str,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<super::credentials::Session, ApiError> {
        let invalid = || {
            ApiError::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        };
        let session = self.sessions.get(access_key).ok_or_else(invalid)?;
        let token = headers
            .get("x-amz-security-token")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !constant_time_eq(token, session.session_token.as_bytes()) {
            return Err(invalid());
        }
        if now >= session.expires {
            return Err(ApiError::forbidden(
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ));
        }
        Ok(session)
    }
}

/// `t` as an `X-Amz-Date` (`20261130T120000Z`).
fn amz_date(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = utc_parts(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// The signing time from `X-Amz-Date`, within the skew limit and on the scope's date.
fn check_date(
    headers: &HeaderMap,
    scope_date: &str,
    now: SystemTime,
) -> Result<SystemTime, ApiError> {
    let text = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header"))?;
    let signed_at = parse_amz_date(text).ok_or_else(|| {
        incomplete("X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'")
    })?;
    if !text.starts_with(scope_date) {
        return Err(ApiError::forbidden(
            "InvalidSignatureException",
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{}'",
                &text[..8]
            ),
        ));
    }
    if signed_at > now + MAX_CLOCK_SKEW {
        return Err(ApiError::forbidden(
            "InvalidSignatureException",
            format!(
                "Signature not yet current: {text} is still later than {} ({} + 15 min.)",
                amz_date(now + MAX_CLOCK_SKEW),
                amz_date(now)
            ),
        ));
    }
    let skew = now.duration_since(signed_at).unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(ApiError::forbidden(
            "InvalidSignatureException",
            format!(
                "Signature expired: {text} is outside the allowed clock skew of 15 minutes from the server time."
            ),
        ));
    }
    Ok(signed_at)
}

fn expected_signature(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    auth: &Authorization<'_>,
    secret_key: &str,
    signed_at: SystemTime,
) -> Result<String, ApiError> {
    let mismatch = || {
        ApiError::forbidden(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    };
    // Exactly the signed headers, in the client's values; x-amz-date is added by the signer.
    let mut signed: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        if *name == "x-amz-date" {
            continue;
        }
        let mut values = headers.get_all(*name).iter().peekable();
        if values.peek().is_none() {
            return Err(mismatch());
        }
        for value in values {
            signed.push((name, value.to_str().map_err(|_| mismatch())?));
        }
    }
    let body_hash = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    let body = match body_hash {
        Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
        Some(claimed) => {
            let actual = hex_sha256(body);
            if !claimed.eq_ignore_ascii_case(&actual) {
                return Err(ApiError::forbidden(
                    "InvalidSignatureException",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ));
            }
            SignableBody::Precomputed(actual)
        }
        None => SignableBody::Bytes(body),
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let full_uri = format!("http://{host}{path}");
    let request = SignableRequest::new(method.as_str(), full_uri, signed.into_iter(), body)
        .map_err(|_| mismatch())?;
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    settings.percent_encoding_mode = PercentEncodingMode::Double;
    let identity = Credentials::new(auth.access_key, secret_key, None, None, "lambada-host").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let output = sign(request, &params).map_err(|_| mismatch())?;
    Ok(output.signature().to_string())
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::SigningInstructions;
    use axum::http::HeaderValue;

    fn signed_request(secret: &str, at: SystemTime, body: &[u8]) -> (Uri, HeaderMap) {
        signed_request_as(secret, at, body, "eu-west-1", "lambda")
    }

    fn signed_request_as(
        secret: &str,
        at: SystemTime,
        body: &[u8],
        region: &str,
        service: &str,
    ) -> (Uri, HeaderMap) {
        let uri: Uri = "http://127.0.0.1:9999/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations?Qualifier=%24LATEST"
            .parse()
            .unwrap();
        let headers = [("host", "127.0.0.1:9999"), ("x-amz-log-type", "Tail")];
        let request = SignableRequest::new(
            "POST",
            uri.to_string(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let identity = Credentials::new("AKIDEXAMPLE", secret, None, None, "test").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let (instructions, _): (SigningInstructions, _) =
            sign(request, &params).unwrap().into_parts();
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(k, HeaderValue::from_static(v));
        }
        for (k, v) in instructions.headers() {
            map.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        (uri.path_and_query().unwrap().as_str().parse().unwrap(), map)
    }

    fn verifier() -> Verifier {
        let mut v = Verifier::default();
        v.add_key("AKIDEXAMPLE", "right-secret", "tenant-a");
        v
    }

    #[test]
    fn a_correct_signature_names_the_tenant_and_region() {
        let now = SystemTime::now();
        let (uri, headers) = signed_request("right-secret", now, b"{}");
        let caller = verifier()
            .verify(&Method::POST, &uri, &headers, b"{}", now, "-", "lambda")
            .unwrap();
        assert_eq!(caller.tenant, "tenant-a");
        assert_eq!(caller.region, "eu-west-1");
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        let now = SystemTime::now();
        let (uri, headers) = signed_request("wrong-secret", now, b"{}");
        let err = verifier()
            .verify(&Method::POST, &uri, &headers, b"{}", now, "-", "lambda")
            .unwrap_err();
        assert_eq!(err.kind, "InvalidSignatureException");
        assert_eq!(err.status, 403);
    }

    #[test]
    fn a_changed_body_is_refused() {
        let now = SystemTime::now();
        let (uri, headers) = signed_request("right-secret", now, b"{}");
        let err = verifier()
            .verify(
                &Method::POST,
                &uri,
                &headers,
                b"{\"x\":1}",
                now,
                "-",
                "lambda",
            )
            .unwrap_err();
        assert_eq!(err.kind, "InvalidSignatureException");
    }

    #[test]
    fn an_old_signature_is_refused() {
        let now = SystemTime::now();
        let (uri, headers) =
            signed_request("right-secret", now - Duration::from_secs(16 * 60), b"");
        let err = verifier()
            .verify(&Method::POST, &uri, &headers, b"", now, "-", "lambda")
            .unwrap_err();
        assert!(err.message.contains("Signature expired"), "{err}");
    }

    #[test]
    fn an_unknown_key_or_no_signature_is_refused() {
        let now = SystemTime::now();
        let (uri, headers) = signed_request("right-secret", now, b"");
        let mut other = Verifier::default();
        other.add_key("AKIDOTHER", "x", "t");
        let err = other
            .verify(&Method::POST, &uri, &headers, b"", now, "-", "lambda")
            .unwrap_err();
        assert_eq!(err.kind, "UnrecognizedClientException");
        let err = verifier()
            .verify(
                &Method::POST,
                &uri,
                &HeaderMap::new(),
                b"",
                now,
                "-",
                "lambda",
            )
            .unwrap_err();
        assert_eq!(err.kind, "MissingAuthenticationTokenException");
    }

    #[test]
    fn open_mode_accepts_anything() {
        let caller = Verifier::default()
            .verify(
                &Method::GET,
                &"/".parse().unwrap(),
                &HeaderMap::new(),
                b"",
                SystemTime::now(),
                "anon",
                "lambda",
            )
            .unwrap();
        assert_eq!(caller.tenant, "anon");
        assert_eq!(caller.region, DEFAULT_REGION);
    }

    fn refusal(headers: &HeaderMap, uri: &Uri, now: SystemTime) -> ApiError {
        verifier()
            .verify(&Method::POST, uri, headers, b"{}", now, "-", "lambda")
            .unwrap_err()
    }

    #[test]
    fn the_scope_must_name_lambda_and_a_real_region() {
        let now = SystemTime::now();
        for service in ["s3", "iam"] {
            let (uri, headers) =
                signed_request_as("right-secret", now, b"{}", "eu-west-1", service);
            let err = refusal(&headers, &uri, now);
            assert_eq!(err.kind, "InvalidSignatureException");
            assert!(err.message.contains("correct service: 'lambda'"), "{err}");
        }
        for region in ["zz-bogus-9", "us-east-1\"", "eu-west-1,x"] {
            let (uri, mut headers) = signed_request("right-secret", now, b"{}");
            let auth = headers["authorization"]
                .to_str()
                .unwrap()
                .replace("eu-west-1", region);
            headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
            let err = refusal(&headers, &uri, now);
            assert!(err.message.contains("valid region"), "{region}: {err}");
        }
        // GetCallerIdentity is STS's.
        let (uri, headers) = signed_request_as("right-secret", now, b"{}", "us-east-1", "sts");
        let caller = verifier()
            .verify(&Method::POST, &uri, &headers, b"{}", now, "-", "sts")
            .unwrap();
        assert_eq!(caller.region, "us-east-1");
    }

    #[test]
    fn regions_are_recognised_by_shape_and_name() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-4",
            "us-gov-west-1",
            "cn-north-1",
        ] {
            assert!(valid_region(good), "{good}");
        }
        for bad in [
            "zz-bogus-9",
            "us-east",
            "us-east-1a",
            "us-bogus-1",
            "",
            "us-east-1\"",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    #[test]
    fn a_future_dated_signature_is_not_yet_current() {
        let now = SystemTime::now();
        let (uri, headers) =
            signed_request("right-secret", now + Duration::from_secs(16 * 60), b"{}");
        let err = refusal(&headers, &uri, now);
        assert!(
            err.message.starts_with("Signature not yet current:"),
            "{err}"
        );
        // Within the allowed skew it is fine.
        let (uri, headers) = signed_request("right-secret", now + Duration::from_secs(60), b"{}");
        assert!(
            verifier()
                .verify(&Method::POST, &uri, &headers, b"{}", now, "-", "lambda")
                .is_ok()
        );
    }

    #[test]
    fn headers_that_change_the_meaning_must_be_signed() {
        let now = SystemTime::now();
        let (uri, mut headers) = signed_request("right-secret", now, b"{}");
        headers.insert("x-amz-invocation-type", HeaderValue::from_static("Event"));
        let err = refusal(&headers, &uri, now);
        assert!(
            err.message
                .contains("'x-amz-invocation-type' must be signed"),
            "{err}"
        );
    }

    #[test]
    fn session_credentials_need_their_token_and_die_when_revoked() {
        let sessions = Arc::new(Sessions::new(Duration::from_secs(60)));
        let mut verifier = Verifier::with_sessions(sessions.clone());
        verifier.add_key("AKIDEXAMPLE", "right-secret", "tenant-a");
        let creds = sessions.mint("tenant-a", "f");
        let now = SystemTime::now();
        let sign = |token: Option<&str>| {
            let uri: Uri = "http://127.0.0.1:9999/2015-03-31/functions/"
                .parse()
                .unwrap();
            let mut headers = vec![("host", "127.0.0.1:9999")];
            if let Some(token) = token {
                headers.push(("x-amz-security-token", token));
            }
            let request = SignableRequest::new(
                "GET",
                uri.to_string(),
                headers.clone().into_iter(),
                SignableBody::Bytes(b""),
            )
            .unwrap();
            let identity = Credentials::new(
                &creds.access_key_id,
                &creds.secret_access_key,
                None,
                None,
                "t",
            )
            .into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("lambda")
                .time(now)
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let (instructions, _) = sign(request, &params).unwrap().into_parts();
            let mut map = HeaderMap::new();
            for (k, v) in headers.into_iter().chain(instructions.headers()) {
                map.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            (uri.path().parse::<Uri>().unwrap(), map)
        };
        let check = |token: Option<&str>| {
            let (uri, headers) = sign(token);
            verifier.verify(&Method::GET, &uri, &headers, b"", now, "-", "lambda")
        };
        let caller = check(Some(&creds.session_token)).unwrap();
        assert_eq!(caller.tenant, "tenant-a");
        assert!(caller.from_worker);
        assert_eq!(check(None).unwrap_err().kind, "UnrecognizedClientException");
        assert_eq!(
            check(Some("LambadaSessionforged")).unwrap_err().kind,
            "UnrecognizedClientException"
        );
        let (uri, headers) = sign(Some(&creds.session_token));
        let later = now + Duration::from_secs(61);
        let err = verifier
            .verify(&Method::GET, &uri, &headers, b"", later, "-", "lambda")
            .unwrap_err();
        assert_eq!(err.kind, "ExpiredTokenException");
        sessions.revoke_function("tenant-a", "f");
        assert_eq!(
            check(Some(&creds.session_token)).unwrap_err().kind,
            "UnrecognizedClientException"
        );
    }
}
