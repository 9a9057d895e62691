//! Registry credentials from the Docker config, shared by both adapters: the daemon passes them
//! with its pulls, the registry client uses them for its own reads.

/// How long a credential helper may take when nothing else says (daemon pulls).
pub const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Credentials for `registry` from the Docker config (`DOCKER_CONFIG` or ~/.docker/config.json:
/// `credHelpers`, `auths`, `credsStore`), in bollard's form. Never logged. Helpers run on a
/// blocking thread, within `deadline`: a helper that hangs is an error naming the registry
/// (its process is left to finish on its own; runref does not wait for it at exit). None
/// configured is `Ok(None)`.
pub async fn docker_credentials(
    registry: &str,
    deadline: std::time::Duration,
) -> Result<Option<bollard::auth::DockerCredentials>, String> {
    let server = if registry == crate::reference::DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    };
    let lookup = tokio::task::spawn_blocking(move || docker_credential::get_credential(&server));
    let found = match tokio::time::timeout(deadline, lookup).await {
        Err(_) => {
            return Err(format!(
                "the Docker config's credential helper for {registry} did not answer within {}s",
                deadline.as_secs()
            ))
        }
        Ok(Err(_)) => return Ok(None),
        Ok(Ok(Err(_))) => return Ok(None),
        Ok(Ok(Ok(c))) => c,
    };
    Ok(Some(match found {
        docker_credential::DockerCredential::UsernamePassword(u, p) => {
            bollard::auth::DockerCredentials {
                username: Some(u),
                password: Some(p),
                serveraddress: Some(registry.to_string()),
                ..Default::default()
            }
        }
        docker_credential::DockerCredential::IdentityToken(t) => bollard::auth::DockerCredentials {
            identitytoken: Some(t),
            serveraddress: Some(registry.to_string()),
            ..Default::default()
        },
    }))
}
