//! Registry credentials from the Docker config, shared by both adapters: the daemon passes them
//! with its pulls, the registry client uses them for its own reads.

/// Credentials for `registry` from the Docker config (`DOCKER_CONFIG` or ~/.docker/config.json:
/// `credHelpers`, `auths`, `credsStore`), in bollard's form. Never logged. Helpers run on a
/// blocking thread.
pub async fn docker_credentials(registry: &str) -> Option<bollard::auth::DockerCredentials> {
    let server = if registry == crate::reference::DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    };
    let found = tokio::task::spawn_blocking(move || docker_credential::get_credential(&server))
        .await
        .ok()?
        .ok()?;
    Some(match found {
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
    })
}
