//! Install snippets and the install script: one template file per environment
//! (`snippets/`), rendered for one enrollment token. `{{name}}` is replaced by its value in
//! one pass (a value is never read as a template); a line naming a value that is absent (the
//! pin, when the certificate is signed by a CA; a build the server does not have) is left out.
//!
//! What runs as root is verified before it runs: the standalone snippet carries the SHA-256
//! of `install.sh` as this server renders it for that snippet's address, `install.sh` carries
//! the SHA-256 of each agent build, and the docker snippets carry the image's.
use app::InstallTemplates;
use sha2::{Digest, Sha256};

use super::InstallContext;

const STANDALONE: &str = include_str!("snippets/standalone.sh");
const IMAGE_LOAD: &str = include_str!("snippets/image-load.sh");
const DOCKER_RUN: &str = include_str!("snippets/docker-run.sh");
const DOCKER_COMPOSE: &str = include_str!("snippets/docker-compose.yml");
const KUBERNETES: &str = include_str!("snippets/kubernetes.yaml");
const INSTALL_SCRIPT: &str = include_str!("snippets/install.sh");

/// Where the docker and Kubernetes snippets get the agent image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `--agent-image`: a registry image, pulled as usual.
    Registry(String),
    /// The image this server serves at `/download/vantage-agent-image.tar`, with its SHA-256
    /// when it is there.
    Served { sha256: Option<String> },
}

/// `install.sh` for a server reached at `vantage_url`, carrying the SHA-256 of each agent
/// build it has (`(arch, digest)`; an architecture without a digest gets no line).
pub fn install_script(vantage_url: &str, builds: &[(&str, Option<String>)]) -> String {
    let digest = |arch: &str| {
        builds
            .iter()
            .find(|(a, _)| *a == arch)
            .and_then(|(_, d)| d.as_deref())
    };
    render(
        INSTALL_SCRIPT,
        &[
            ("vantage_url", Some(vantage_url)),
            ("sha256_x86_64", digest("x86_64")),
            ("sha256_aarch64", digest("aarch64")),
        ],
    )
}

/// Hex SHA-256 of `text`.
pub fn sha256_hex(text: &[u8]) -> String {
    hex::encode(Sha256::digest(text))
}

/// `text` as one shell word: single-quoted, with each `'` written `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Renders `template` with `values`; see the module comment.
fn render(template: &str, values: &[(&str, Option<&str>)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    'lines: for line in template.split_inclusive('\n') {
        let mut rendered = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            rendered.push_str(&rest[..start]);
            match values.iter().find(|(n, _)| *n == name) {
                Some((_, Some(value))) => rendered.push_str(value),
                Some((_, None)) => continue 'lines,
                // Not a placeholder of ours (YAML's `{ }` never doubles): kept as written.
                None => rendered.push_str(&rest[start..start + 4 + len]),
            }
            rest = &rest[start + 4 + len..];
        }
        rendered.push_str(rest);
        out.push_str(&rendered);
    }
    out
}

/// The install commands for one token. Every value in a shell command is single-quoted;
/// values in YAML are double-quoted and cannot hold `"` or `\\` (the host was checked against
/// host-name grammar, tokens are hex, pins base64, digests hex, image names checked).
pub fn install_templates(token: &str, context: &InstallContext) -> InstallTemplates {
    let version = env!("CARGO_PKG_VERSION");
    let InstallContext {
        grpc_url,
        http_url,
        pin,
        install_sha256,
        image,
        max_uses,
        expires_at,
        ..
    } = context;
    let (q_grpc, q_token) = (shell_quote(grpc_url), shell_quote(token));
    let q_pin = pin.as_deref().map(shell_quote);
    let pin_flag = q_pin
        .as_ref()
        .map(|p| format!(" --server-pin {p}"))
        .unwrap_or_default();
    let q_script = shell_quote(&format!("{http_url}/install.sh"));
    let q_script_sha = shell_quote(install_sha256);
    let image_url = format!("{http_url}/download/{}", crate::downloads::IMAGE_FILE);
    let (image_name, image_load, image_note) = match image {
        ImageSource::Registry(name) => (name.clone(), None, None),
        ImageSource::Served { sha256 } => {
            let digest = sha256.as_deref().unwrap_or("missing");
            let load = render(
                IMAGE_LOAD,
                &[
                    ("image_url", Some(&shell_quote(&image_url))),
                    ("image_sha256", Some(&shell_quote(digest))),
                ],
            );
            let note = format!(
                "No registry: load the image first: curl -fsSL {image_url} -o vantage-agent-image.tar, check that its SHA-256 is {digest}, then docker load -i vantage-agent-image.tar"
            );
            (format!("vantage-agent:{version}"), Some(load), Some(note))
        }
    };
    let kubernetes_image_note = match image {
        ImageSource::Registry(_) => None,
        ImageSource::Served { sha256 } => Some(format!(
            "No registry: on every node, curl -fsSL {image_url} -o vantage-agent-image.tar, check that its SHA-256 is {}, then ctr -n k8s.io images import vantage-agent-image.tar (or docker load -i it)",
            sha256.as_deref().unwrap_or("missing")
        )),
    };
    let token_note = match max_uses {
        Some(1) => "This token enrolls ONE node: for a cluster, generate a fleet token (the dialog's \"fleet\" choice).".to_owned(),
        Some(n) => format!("A fleet token: up to {n} nodes enroll with it until {expires_at}, each with its own identity; a restarted node keeps its identity and uses none."),
        None => format!("A fleet token: any number of nodes enroll with it until {expires_at}, each with its own identity; a restarted node keeps its identity and uses none."),
    };
    let shell = [
        ("script_url", Some(q_script.as_str())),
        ("script_sha256", Some(q_script_sha.as_str())),
        ("grpc_url", Some(q_grpc.as_str())),
        ("token", Some(q_token.as_str())),
        ("pin", q_pin.as_deref()),
        ("pin_flag", Some(pin_flag.as_str())),
        ("image_load", image_load.as_deref()),
        ("image", Some(image_name.as_str())),
    ];
    let yaml = [
        ("grpc_url", Some(grpc_url.as_str())),
        ("token", Some(token)),
        ("pin", pin.as_deref()),
        ("image", Some(image_name.as_str())),
        ("image_note", image_note.as_deref()),
    ];
    let kubernetes_values = [
        ("grpc_url", Some(grpc_url.as_str())),
        ("token", Some(token)),
        ("pin", pin.as_deref()),
        ("image", Some(image_name.as_str())),
        ("image_note", kubernetes_image_note.as_deref()),
        ("token_note", Some(token_note.as_str())),
    ];
    InstallTemplates {
        standalone: render(STANDALONE, &shell),
        image_load: image_load.clone(),
        docker_run: render(DOCKER_RUN, &shell),
        docker_compose: render(DOCKER_COMPOSE, &yaml),
        kubernetes: render(KUBERNETES, &kubernetes_values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(pin: Option<&str>, image: ImageSource, max_uses: Option<i64>) -> InstallContext {
        InstallContext {
            grpc_url: "grpcs://v.example:8443".into(),
            http_url: "https://v.example".into(),
            pin: pin.map(str::to_owned),
            install_sha256: "5c1e".repeat(16),
            image,
            max_uses,
            expires_at: "2026-12-03T10:00:00Z".into(),
            warnings: Vec::new(),
        }
    }

    fn served() -> ImageSource {
        ImageSource::Served {
            sha256: Some("1a9e".repeat(16)),
        }
    }

    #[test]
    fn values_replace_names_once_and_absent_values_drop_their_line() {
        let out = render(
            "a={{a}}\npin={{pin}}\n{ yaml: {} }\n",
            &[("a", Some("{{pin}}")), ("pin", None)],
        );
        assert_eq!(out, "a={{pin}}\n{ yaml: {} }\n");
    }

    #[test]
    fn every_placeholder_of_every_template_has_a_value() {
        for image in [served(), ImageSource::Registry("reg.example/va:1".into())] {
            for pin in [Some("sha256:abc="), None] {
                let t = install_templates("vtg_enr_0123", &context(pin, image.clone(), Some(1)));
                for text in [
                    &t.standalone,
                    &t.docker_run,
                    &t.docker_compose,
                    &t.kubernetes,
                ]
                .into_iter()
                .chain(t.image_load.as_ref())
                {
                    assert!(!text.contains("{{"), "{text}");
                }
                for text in [
                    &t.standalone,
                    &t.docker_run,
                    &t.docker_compose,
                    &t.kubernetes,
                ] {
                    assert!(text.contains("vtg_enr_0123"), "{text}");
                    assert_eq!(text.contains("sha256:abc="), pin.is_some(), "{text}");
                }
            }
        }
        let script = install_script("http://h:8080", &[("x86_64", Some("ab".repeat(32)))]);
        assert!(!script.contains("{{"), "{script}");
        assert!(script.contains("VANTAGE_URL=\"${VANTAGE_URL:-http://h:8080}\""));
        assert!(script.contains(&format!("x86_64) want=\"{}\" ;;", "ab".repeat(32))));
        // No build for aarch64: no digest line, so the installer refuses that architecture.
        assert!(!script.contains("aarch64) want="), "{script}");
    }

    #[test]
    fn the_standalone_snippet_checks_the_script_before_running_it() {
        let t = install_templates(
            "vtg_enr_TOKEN",
            &context(Some("sha256:PIN"), served(), Some(1)),
        );
        let sha = "5c1e".repeat(16);
        assert_eq!(
            t.standalone,
            format!(
                "(f=\"$(mktemp)\" || exit 1; trap 'rm -f \"$f\"' EXIT\n\
                 curl -fsSL 'https://v.example/install.sh' -o \"$f\" || {{ echo 'vantage: cannot download install.sh; nothing was installed.' >&2; exit 1; }}\n\
                 [ \"$(sha256sum \"$f\" | cut -d' ' -f1)\" = '{sha}' ] || {{ echo 'vantage: install.sh does not match the SHA-256 in this snippet; nothing was installed.' >&2; exit 1; }}\n\
                 sudo sh \"$f\" --server 'grpcs://v.example:8443' --enrollment-token 'vtg_enr_TOKEN' --server-pin 'sha256:PIN')"
            )
        );
        assert_eq!(shell_quote("it's $(id)"), "'it'\\''s $(id)'");
    }

    #[test]
    fn docker_snippets_load_the_served_image_unless_a_registry_image_is_named() {
        let t = install_templates("vtg_enr_TOKEN", &context(None, served(), Some(1)));
        let load = t.image_load.clone().unwrap();
        assert!(load.contains("curl -fsSL 'https://v.example/download/vantage-agent-image.tar'"));
        assert!(load.contains(&format!("= '{}' ]", "1a9e".repeat(16))));
        assert!(load.ends_with("docker load -i \"$f\")"));
        assert!(
            t.docker_run
                .starts_with(&format!("{load} && \\\ndocker run -d"))
        );
        assert!(
            t.docker_run.ends_with("  vantage-agent:0.1.0"),
            "{}",
            t.docker_run
        );
        assert!(t.docker_compose.contains("image: vantage-agent:0.1.0\n"));
        assert!(
            t.docker_compose
                .starts_with("# No registry: load the image first")
        );
        assert!(t.kubernetes.contains("ctr -n k8s.io images import"));
        assert!(t.kubernetes.contains("This token enrolls ONE node"));

        let registry = ImageSource::Registry("registry.example/vantage-agent:0.1.0".into());
        let t = install_templates("vtg_enr_TOKEN", &context(None, registry, None));
        assert_eq!(t.image_load, None);
        assert!(
            t.docker_run.starts_with("docker run -d"),
            "{}",
            t.docker_run
        );
        assert!(
            t.docker_run
                .ends_with("  registry.example/vantage-agent:0.1.0")
        );
        assert!(t.docker_compose.starts_with("services:\n"));
        assert!(
            t.kubernetes
                .contains("image: registry.example/vantage-agent:0.1.0\n")
        );
        assert!(t.kubernetes.starts_with(
            "# A fleet token: any number of nodes enroll with it until 2026-12-03T10:00:00Z"
        ));
    }

    #[test]
    fn snippets_carry_server_token_pin_and_mounts_and_no_uts_namespace() {
        let t = install_templates(
            "vtg_enr_TOKEN",
            &context(Some("sha256:PIN"), served(), Some(40)),
        );
        for snippet in [
            &t.standalone,
            &t.docker_run,
            &t.docker_compose,
            &t.kubernetes,
        ] {
            assert!(snippet.contains("grpcs://v.example:8443"), "{snippet}");
            assert!(snippet.contains("vtg_enr_TOKEN"), "{snippet}");
            assert!(snippet.contains("sha256:PIN"), "{snippet}");
        }
        assert!(
            t.docker_run
                .contains("-e VANTAGE_ENROLLMENT_TOKEN='vtg_enr_TOKEN'")
        );
        for snippet in [&t.docker_run, &t.docker_compose, &t.kubernetes] {
            assert!(
                snippet.contains("/proc")
                    && snippet.contains("/host/proc")
                    && snippet.contains("docker.sock")
            );
            assert!(
                snippet.contains("/var/lib/vantage-agent"),
                "persistent state: {snippet}"
            );
            assert!(
                snippet.contains("/host/root") && snippet.contains("VANTAGE_HOST_ROOT"),
                "disks and the host name: {snippet}"
            );
            // docker-compose 1.29 refuses `uts`; the host name comes from the host root.
            assert!(!snippet.contains("uts"), "{snippet}");
        }
        assert!(t.kubernetes.contains("up to 40 nodes enroll with it"));
        for kind in [
            "Namespace",
            "Secret",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "DaemonSet",
        ] {
            assert!(t.kubernetes.contains(&format!("kind: {kind}\n")), "{kind}");
        }
        assert!(t.docker_run.contains(":ro"));
    }
}
