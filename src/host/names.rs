//! Function names, ARNs and qualifiers, accepted in the forms Lambda accepts:
//! `name`, `name:qualifier`, `000000000000:function:name[:qualifier]` and
//! `arn:aws:lambda:region:000000000000:function:name[:qualifier]`.

use super::error::ApiError;

/// The account every function of a host belongs to unless configured otherwise
/// (`lambada serve --account-id`).
pub const ACCOUNT_ID: &str = "000000000000";

/// The unpublished version of every function, the one updates change.
pub const LATEST: &str = "$LATEST";

/// A reference to a function as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
}

/// `arn:aws:lambda:{region}:000000000000:function:{name}`.
pub fn function_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_valid_qualifier(q: &str) -> bool {
    q == LATEST
        || ((1..=128).contains(&q.len())
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn invalid(text: &str) -> ApiError {
    ApiError::invalid_parameter(format!(
        "1 validation error detected: Value '{text}' at 'functionName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: \
         (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
    ))
}

/// Parses a function name, partial ARN or ARN. A foreign account is not found here.
pub fn parse_function_ref(text: &str, our_account: &str) -> Result<FunctionRef, ApiError> {
    if text.len() > 170 {
        return Err(invalid(text));
    }
    let parts: Vec<&str> = text.split(':').collect();
    let (account, rest): (Option<&str>, &[&str]) = match parts.as_slice() {
        [
            "arn",
            partition,
            "lambda",
            _region,
            account,
            "function",
            rest @ ..,
        ] if partition.starts_with("aws") => (Some(account), rest),
        [account, "function", rest @ ..] => (Some(account), rest),
        rest => (None, rest),
    };
    let (name, qualifier) = match rest {
        [name] => (*name, None),
        [name, qualifier] => (*name, Some(*qualifier)),
        _ => return Err(invalid(text)),
    };
    if !is_valid_name(name) || !qualifier.is_none_or(is_valid_qualifier) {
        return Err(invalid(text));
    }
    if let Some(account) = account {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(text));
        }
        if account != our_account {
            return Err(ApiError::function_not_found(text));
        }
    }
    Ok(FunctionRef {
        name: name.to_string(),
        qualifier: qualifier.map(str::to_string),
    })
}

/// Combines the qualifier of the path with the `Qualifier` query parameter: the version
/// or alias the request names (`None`: the unpublished `$LATEST`).
pub fn requested_qualifier(
    reference: &FunctionRef,
    query_qualifier: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if let Some(q) = query_qualifier
        && !is_valid_qualifier(q)
    {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
        )));
    }
    match (reference.qualifier.as_deref(), query_qualifier) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid_parameter(
            "The derived qualifier from the function name does not match the specified qualifier.",
        )),
        (a, b) => Ok(a.or(b).filter(|q| *q != LATEST).map(str::to_string)),
    }
}

/// A published version's number: digits without a leading zero.
pub fn version_number(qualifier: &str) -> Option<u32> {
    if qualifier.starts_with('0') {
        return None;
    }
    qualifier.parse().ok().filter(|n| *n > 0)
}

/// Alias names: 1-128 characters of `[a-zA-Z0-9-_]`, not only digits (those are versions).
pub fn is_valid_alias(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:aws:lambda:{region}:{account}:layer:{name}`.
pub fn layer_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:layer:{name}")
}

/// Layer names: 1-140 characters of `[a-zA-Z0-9-_]`.
pub fn is_valid_layer_name(name: &str) -> bool {
    (1..=140).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A layer version ARN split into account, layer name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersionRef {
    pub account: String,
    pub name: String,
    pub version: u32,
}

/// Parses `arn:aws:lambda:{region}:{account}:layer:{name}:{version}`.
pub fn parse_layer_version_arn(arn: &str) -> Option<LayerVersionRef> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        [
            "arn",
            partition,
            "lambda",
            _region,
            account,
            "layer",
            name,
            version,
        ] if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && is_valid_layer_name(name) =>
        {
            Some(LayerVersionRef {
                account: account.to_string(),
                name: name.to_string(),
                version: version_number(version)?,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lambda_form_is_accepted() {
        let plain = parse_function_ref("my-fn", ACCOUNT_ID).unwrap();
        assert_eq!(plain.name, "my-fn");
        assert_eq!(plain.qualifier, None);
        let qualified = parse_function_ref("my-fn:$LATEST", ACCOUNT_ID).unwrap();
        assert_eq!(qualified.qualifier.as_deref(), Some("$LATEST"));
        let partial = parse_function_ref("000000000000:function:my_fn:v1", ACCOUNT_ID).unwrap();
        assert_eq!(partial.name, "my_fn");
        assert_eq!(partial.qualifier.as_deref(), Some("v1"));
        let arn = parse_function_ref(
            "arn:aws:lambda:eu-west-1:000000000000:function:f",
            ACCOUNT_ID,
        )
        .unwrap();
        assert_eq!(arn.name, "f");
    }

    #[test]
    fn malformed_names_are_rejected() {
        for bad in [
            "",
            "a b",
            "a/b",
            "x:y:z",
            &"n".repeat(65),
            "arn:aws:lambda:r:1:function:f",
        ] {
            let err = parse_function_ref(bad, ACCOUNT_ID).unwrap_err();
            assert_eq!(err.kind, "InvalidParameterValueException", "{bad}");
        }
    }

    #[test]
    fn another_account_is_not_found() {
        let err = parse_function_ref(
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            ACCOUNT_ID,
        )
        .unwrap_err();
        assert_eq!(err.kind, "ResourceNotFoundException");
    }

    #[test]
    fn qualifiers_from_path_and_query_must_agree() {
        let f = parse_function_ref("f:7", ACCOUNT_ID).unwrap();
        assert_eq!(requested_qualifier(&f, None).unwrap().as_deref(), Some("7"));
        let f = parse_function_ref("f", ACCOUNT_ID).unwrap();
        assert_eq!(requested_qualifier(&f, Some("$LATEST")).unwrap(), None);
        let f = parse_function_ref("f:$LATEST", ACCOUNT_ID).unwrap();
        assert_eq!(
            requested_qualifier(&f, Some("3")).unwrap_err().kind,
            "InvalidParameterValueException"
        );
    }

    #[test]
    fn versions_aliases_and_layer_arns() {
        assert_eq!(version_number("12"), Some(12));
        for bad in ["0", "01", "prod", "$LATEST", ""] {
            assert_eq!(version_number(bad), None, "{bad}");
        }
        assert!(is_valid_alias("prod-2"));
        assert!(!is_valid_alias("42"));
        let layer =
            parse_layer_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:deps:3").unwrap();
        assert_eq!((layer.name.as_str(), layer.version), ("deps", 3));
        assert!(
            parse_layer_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:deps").is_none()
        );
    }
}
