//! Short-lived session credentials for workers, as Lambda gives a function the temporary
//! credentials of its execution role.
//!
//! Each worker gets its own AccessKeyId, SecretAccessKey and SessionToken, scoped to its
//! tenant and function, in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`. A tenant's long-term secret never reaches a worker. A session is
//! valid while its worker lives and for at most the host's session lifetime; the request
//! must carry its token in a signed `X-Amz-Security-Token` header. Deleting a function
//! revokes the sessions of its workers at once.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use super::util::hex_token;

/// How long session credentials last by default (Lambda's role sessions last hours).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// Credentials handed to one worker.
#[derive(Debug, Clone)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires: SystemTime,
}

/// What the host knows about a session it minted.
#[derive(Debug, Clone)]
pub struct Session {
    pub tenant: String,
    pub function: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires: SystemTime,
}

/// The live sessions of a host, by access key id.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    live: RwLock<HashMap<String, Session>>,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::new(DEFAULT_SESSION_TTL)
    }
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            live: RwLock::new(HashMap::new()),
        }
    }

    /// New credentials for a worker of `function` of `tenant`.
    pub fn mint(&self, tenant: &str, function: &str) -> SessionCredentials {
        let credentials = SessionCredentials {
            access_key_id: format!("ASIA{}", hex_token(8).to_uppercase()),
            secret_access_key: hex_token(20),
            session_token: format!("LambadaSession{}", hex_token(32)),
            expires: SystemTime::now() + self.ttl,
        };
        let session = Session {
            tenant: tenant.to_string(),
            function: function.to_string(),
            secret_access_key: credentials.secret_access_key.clone(),
            session_token: credentials.session_token.clone(),
            expires: credentials.expires,
        };
        if let Ok(mut live) = self.live.write() {
            live.insert(credentials.access_key_id.clone(), session);
        }
        credentials
    }

    /// The session of `access_key`, if it is one this host minted and did not revoke.
    pub fn get(&self, access_key: &str) -> Option<Session> {
        self.live.read().ok()?.get(access_key).cloned()
    }

    /// Ends one session (its worker stopped).
    pub fn revoke(&self, access_key: &str) {
        if let Ok(mut live) = self.live.write() {
            live.remove(access_key);
        }
    }

    /// Ends every session of a function (it was deleted).
    pub fn revoke_function(&self, tenant: &str, function: &str) {
        if let Ok(mut live) = self.live.write() {
            live.retain(|_, s| !(s.tenant == tenant && s.function == function));
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.live.read().map(|l| l.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_sessions_are_found_until_revoked() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let a = sessions.mint("t1", "f");
        let b = sessions.mint("t1", "g");
        assert!(a.access_key_id.starts_with("ASIA"));
        assert_ne!(a.session_token, b.session_token);
        assert_eq!(sessions.get(&a.access_key_id).unwrap().function, "f");
        sessions.revoke_function("t1", "f");
        assert!(sessions.get(&a.access_key_id).is_none());
        assert!(sessions.get(&b.access_key_id).is_some());
        sessions.revoke(&b.access_key_id);
        assert_eq!(sessions.len(), 0);
    }
}
