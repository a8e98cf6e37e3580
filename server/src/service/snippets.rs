//! Install snippets: one template file per environment (`snippets/`), rendered for one
//! enrollment token. `{{name}}` is replaced by its value in one pass (a value is never read
//! as a template); a line naming a value that is absent (the pin, when the certificate is
//! signed by a CA) is left out.
use app::InstallTemplates;

use super::InstallContext;

const STANDALONE: &str = include_str!("snippets/standalone.sh");
const DOCKER_RUN: &str = include_str!("snippets/docker-run.sh");
const DOCKER_COMPOSE: &str = include_str!("snippets/docker-compose.yml");
const KUBERNETES: &str = include_str!("snippets/kubernetes.yaml");

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
/// host-name grammar, tokens are hex, pins base64).
pub fn install_templates(token: &str, context: &InstallContext) -> InstallTemplates {
    let version = env!("CARGO_PKG_VERSION");
    let InstallContext {
        grpc_url,
        http_url,
        pin,
        ..
    } = context;
    let (q_grpc, q_token) = (shell_quote(grpc_url), shell_quote(token));
    let q_pin = pin.as_deref().map(shell_quote);
    let pin_flag = q_pin
        .as_ref()
        .map(|p| format!(" --server-pin {p}"))
        .unwrap_or_default();
    let q_script = shell_quote(&format!("{http_url}/install.sh"));
    let shell = [
        ("script_url", Some(q_script.as_str())),
        ("grpc_url", Some(q_grpc.as_str())),
        ("token", Some(q_token.as_str())),
        ("pin", q_pin.as_deref()),
        ("pin_flag", Some(pin_flag.as_str())),
        ("version", Some(version)),
    ];
    let yaml = [
        ("grpc_url", Some(grpc_url.as_str())),
        ("token", Some(token)),
        ("pin", pin.as_deref()),
        ("version", Some(version)),
    ];
    InstallTemplates {
        standalone: render(STANDALONE, &shell),
        docker_run: render(DOCKER_RUN, &shell),
        docker_compose: render(DOCKER_COMPOSE, &yaml),
        kubernetes: render(KUBERNETES, &yaml),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let context = InstallContext {
            grpc_url: "grpcs://vantage.example:50051".into(),
            http_url: "http://vantage.example:8080".into(),
            pin: Some("sha256:abc=".into()),
            warnings: Vec::new(),
        };
        let t = install_templates("vtg_enr_0123", &context);
        for text in [
            &t.standalone,
            &t.docker_run,
            &t.docker_compose,
            &t.kubernetes,
        ] {
            assert!(!text.contains("{{"), "{text}");
            assert!(
                text.contains("vtg_enr_0123") && text.contains("sha256:abc="),
                "{text}"
            );
        }
        assert!(
            t.standalone.ends_with("--server-pin 'sha256:abc='"),
            "{}",
            t.standalone
        );
        let unpinned = install_templates(
            "vtg_enr_0123",
            &InstallContext {
                pin: None,
                ..context
            },
        );
        assert!(!unpinned.docker_run.contains("PIN") && !unpinned.kubernetes.contains("PIN"));
        assert!(
            unpinned
                .standalone
                .ends_with("--enrollment-token 'vtg_enr_0123'")
        );
        assert!(
            unpinned
                .docker_compose
                .contains("VANTAGE_HOST_ROOT: /host/root\nvolumes:")
        );
    }

    #[test]
    fn snippets_carry_server_token_pin_and_mounts() {
        let context = InstallContext {
            grpc_url: "grpcs://v.example:8443".into(),
            http_url: "https://v.example".into(),
            pin: Some("sha256:PIN".into()),
            warnings: vec![],
        };
        let t = install_templates("vtg_enr_TOKEN", &context);
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
        assert_eq!(
            t.standalone,
            "curl -fsSL 'https://v.example/install.sh' | sudo sh -s -- --server 'grpcs://v.example:8443' \
             --enrollment-token 'vtg_enr_TOKEN' --server-pin 'sha256:PIN'"
        );
        assert!(
            t.docker_run
                .contains("-e VANTAGE_ENROLLMENT_TOKEN='vtg_enr_TOKEN'")
        );
        assert_eq!(shell_quote("it's $(id)"), "'it'\\''s $(id)'");
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
                "disks: {snippet}"
            );
        }
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
