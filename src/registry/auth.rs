//! Answers a registry's 401 challenge as the Docker CLI does: `Bearer` => a token from the realm
//! for the repository and operation (anonymous, Basic credentials, or an identity token's OAuth2
//! refresh grant), `Basic` => the credentials. Challenges are remembered per endpoint and tokens
//! per endpoint and scope, so the next repository costs one token request and no 401.
//! Credentials are looked up once per host and only when a challenge asks for them; nothing
//! secret is ever put in an error.

use super::error::RegistryError;
use super::wire::{error_text, header_value, read_bounded, Call, Read, Scope, Step, Wire};
use crate::credentials::Credential;
use base64::Engine as _;
use reqwest::header::HeaderValue;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
    },
    Basic,
}

#[derive(Default)]
pub struct Auth {
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), HeaderValue>>,
    credentials: tokio::sync::Mutex<HashMap<String, Option<Credential>>>,
}

/// The token scopes a call needs: its repository (pull, or pull and push), and for a
/// cross-repository mount also pull on the repository the blob is mounted from.
fn scopes_of(call: &Call<'_>) -> Vec<String> {
    let actions = match call.scope {
        Scope::Pull => "pull",
        Scope::Push => "pull,push",
    };
    let mut out = vec![format!("repository:{}:{actions}", call.repo)];
    if let Some(from) = call.from.filter(|f| *f != call.repo) {
        out.push(format!("repository:{from}:pull"));
    }
    out
}

/// The token cache key of a call's scopes.
fn scope_of(call: &Call<'_>) -> String {
    scopes_of(call).join(" ")
}

/// The first challenge runref can answer: Bearer (with a realm) before Basic.
fn parse(header: &HeaderValue) -> Option<Challenge> {
    let text = header.to_str().ok()?;
    let all = http_auth::parse_challenges(text).ok()?;
    let bearer = all
        .iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|c| {
            let get = |k: &str| {
                c.params
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.to_unescaped())
            };
            Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
            })
        });
    bearer.or_else(|| {
        all.iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
            .then_some(Challenge::Basic)
    })
}

impl Auth {
    /// The `Authorization` for `call` from what is known: none before this endpoint has
    /// challenged; after a Bearer challenge, the repository's token (fetched now when missing).
    pub async fn header(
        &self,
        wire: &Wire,
        call: &Call<'_>,
        until: Instant,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let known = self
            .challenges
            .lock()
            .ok()
            .and_then(|m| m.get(call.base).cloned());
        match known {
            None => Ok(None),
            Some(c) => self.respond(wire, call, &c, until).await,
        }
    }

    /// Answers the challenge of a 401 (a token that was refused is dropped first). `None` when
    /// there is nothing to answer with.
    pub async fn answer(
        &self,
        wire: &Wire,
        call: &Call<'_>,
        challenge: Option<&HeaderValue>,
        until: Instant,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let Some(c) = challenge.and_then(parse) else {
            return Ok(None);
        };
        if let Ok(mut m) = self.challenges.lock() {
            m.insert(call.base.to_string(), c.clone());
        }
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(&(call.base.to_string(), scope_of(call)));
        }
        self.respond(wire, call, &c, until).await
    }

    async fn respond(
        &self,
        wire: &Wire,
        call: &Call<'_>,
        c: &Challenge,
        until: Instant,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        match c {
            Challenge::Basic => Ok(match self.credential(wire, call).await? {
                Some(Credential::Basic { username, password }) => {
                    header_value(&basic(&username, &password))
                }
                _ => None,
            }),
            Challenge::Bearer { realm, service } => {
                let key = (call.base.to_string(), scope_of(call));
                if let Some(t) = self.tokens.lock().ok().and_then(|m| m.get(&key).cloned()) {
                    return Ok(Some(t));
                }
                let t = self
                    .token(wire, call, realm, service.as_deref(), until)
                    .await?;
                if let Ok(mut m) = self.tokens.lock() {
                    m.insert(key, t.clone());
                }
                Ok(Some(t))
            }
        }
    }

    async fn credential(
        &self,
        wire: &Wire,
        call: &Call<'_>,
    ) -> Result<Option<Credential>, RegistryError> {
        let mut known = self.credentials.lock().await;
        if let Some(c) = known.get(call.host) {
            return Ok(c.clone());
        }
        let found = crate::credentials::docker_credentials(call.host, wire.timeout())
            .await
            .map_err(|detail| RegistryError::Credentials {
                registry: call.host.to_string(),
                detail,
            })?;
        known.insert(call.host.to_string(), found.clone());
        Ok(found)
    }

    /// One token request (counted); the answer is bounded and must make a valid header.
    async fn token(
        &self,
        wire: &Wire,
        call: &Call<'_>,
        realm: &str,
        service: Option<&str>,
        until: Instant,
    ) -> Result<HeaderValue, RegistryError> {
        let refused = |detail: String| refused(call, detail);
        let url = reqwest::Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                refused(format!(
                    "the registry's token realm {realm:?} is not an http(s) URL"
                ))
            })?;
        let scopes = scopes_of(call);
        let credential = self.credential(wire, call).await?;
        let req = token_request(wire, url, &scopes, service, credential.as_ref());
        let resp = match wire.raw(req, until, call).await? {
            Step::Done(r) => r,
            Step::Retry { error, .. } => return Err(error),
        };
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            let why = error_text(resp, until).await;
            return Err(refused(format!("the token server refused: {why}")));
        }
        if !status.is_success() {
            let why = error_text(resp, until).await;
            return Err(RegistryError::Server {
                reference: call.subject.clone(),
                status: status.as_u16(),
                attempts: 1,
                detail: format!("token server: {why}"),
            });
        }
        token_answer(wire, call, resp, until).await
    }
}

/// The token server (or its answer) refused `call`.
fn refused(call: &Call<'_>, detail: String) -> RegistryError {
    RegistryError::Unauthorized {
        reference: call.subject.clone(),
        registry: call.registry.to_string(),
        detail,
    }
}

/// The token request: a refresh-token POST (an identity token), else a GET with the scopes,
/// with basic auth when there is a password.
fn token_request(
    wire: &Wire,
    mut url: reqwest::Url,
    scopes: &[String],
    service: Option<&str>,
    credential: Option<&Credential>,
) -> reqwest::RequestBuilder {
    if let Some(Credential::IdentityToken(refresh)) = credential {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh)
            .append_pair("client_id", "runref");
        for scope in scopes {
            form.append_pair("scope", scope);
        }
        if let Some(s) = service {
            form.append_pair("service", s);
        }
        return wire
            .client()
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.finish());
    }
    {
        let mut q = url.query_pairs_mut();
        for scope in scopes {
            q.append_pair("scope", scope);
        }
        if let Some(s) = service {
            q.append_pair("service", s);
        }
    }
    let req = wire.client().get(url);
    match credential {
        Some(Credential::Basic { username, password }) => req.basic_auth(username, Some(password)),
        _ => req,
    }
}

/// The token server's successful answer, read within the token bound, as a header value.
async fn token_answer(
    wire: &Wire,
    call: &Call<'_>,
    resp: reqwest::Response,
    until: Instant,
) -> Result<HeaderValue, RegistryError> {
    let refused = |detail: String| refused(call, detail);
    let limit = wire.limits().token;
    let body = match read_bounded(resp, limit, until).await {
        Ok(b) => b,
        Err(Read::TooLarge) => {
            return Err(RegistryError::TooLarge {
                reference: call.subject.clone(),
                what: "token answer",
                limit,
            })
        }
        Err(Read::Timeout) => {
            return Err(RegistryError::Timeout {
                reference: call.subject.clone(),
                secs: wire.timeout().as_secs(),
                attempts: 1,
            })
        }
        Err(Read::Broken(detail)) => return Err(refused(format!("token answer: {detail}"))),
    };
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|_| refused("the token server's answer is not a JSON token".into()))?;
    let token = answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refused("the token server's answer holds no token".into()))?;
    header_value(&format!("Bearer {token}")).ok_or_else(|| {
        refused("the token server sent a token that is not a valid HTTP header value".into())
    })
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_asks_pull_on_its_source_too() {
        let call = |from| Call {
            base: "https://r.example",
            host: "r.example",
            repo: "team/app",
            method: reqwest::Method::POST,
            path: "/v2/team/app/blobs/uploads/".into(),
            accept: None,
            body: None,
            scope: Scope::Push,
            from,
            subject: "r.example/team/app".into(),
            registry: "r.example",
        };
        assert_eq!(scopes_of(&call(None)), ["repository:team/app:pull,push"]);
        assert_eq!(
            scopes_of(&call(Some("ci/app-amd64"))),
            [
                "repository:team/app:pull,push",
                "repository:ci/app-amd64:pull"
            ]
        );
        // Mounting within one repository needs nothing more.
        assert_eq!(scopes_of(&call(Some("team/app"))).len(), 1);
    }

    #[test]
    fn challenges() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            parse(&h(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#
            )),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(parse(&h(r#"Basic realm="r""#)), Some(Challenge::Basic));
        assert_eq!(
            parse(&h(r#"Basic realm="r", Bearer realm="http://a/t""#)),
            Some(Challenge::Bearer {
                realm: "http://a/t".into(),
                service: None
            })
        );
        // A Bearer challenge without a realm cannot be answered.
        assert_eq!(parse(&h(r#"Bearer service="x""#)), None);
        assert_eq!(parse(&h("garbage ===")), None);
    }
}
