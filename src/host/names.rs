//! Function names, ARNs and qualifiers, accepted in the forms Lambda accepts:
//! `name`, `name:qualifier`, `000000000000:function:name[:qualifier]` and
//! `arn:aws:lambda:region:000000000000:function:name[:qualifier]`.

use super::error::ApiError;

/// The account every function of a host belongs to unless configured otherwise
/// (`lambada serve --account-id`).
pub const ACCOUNT_ID: &str = "000000000000";

/// The only version this host runs.
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

/// Combines the qualifier of the path with the `Qualifier` query parameter and checks
/// that it names `$LATEST`, the only version this host has.
pub fn check_qualifier(
    reference: &FunctionRef,
    query_qualifier: Option<&str>,
    account: &str,
    region: &str,
) -> Result<(), ApiError> {
    let qualifier = match (reference.qualifier.as_deref(), query_qualifier) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid_parameter(
                "The derived qualifier from the function name does not match the specified qualifier.",
            ));
        }
        (a, b) => a.or(b),
    };
    match qualifier {
        None | Some(LATEST) => Ok(()),
        Some(other) => Err(ApiError::function_not_found(&format!(
            "{}:{other}",
            function_arn(account, region, &reference.name)
        ))),
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
    fn only_latest_exists() {
        let f = parse_function_ref("f:7", ACCOUNT_ID).unwrap();
        assert_eq!(
            check_qualifier(&f, None, ACCOUNT_ID, "us-east-1")
                .unwrap_err()
                .kind,
            "ResourceNotFoundException"
        );
        let f = parse_function_ref("f", ACCOUNT_ID).unwrap();
        assert!(check_qualifier(&f, Some("$LATEST"), ACCOUNT_ID, "us-east-1").is_ok());
        let f = parse_function_ref("f:$LATEST", ACCOUNT_ID).unwrap();
        assert_eq!(
            check_qualifier(&f, Some("3"), ACCOUNT_ID, "us-east-1")
                .unwrap_err()
                .kind,
            "InvalidParameterValueException"
        );
    }
}
