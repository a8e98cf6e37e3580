//! The email channel against a real SMTP server (aiosmtpd from PyPI, in end2end/.venv) that
//! requires STARTTLS with a certificate the channel trusts through `ca_pem`.
mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

const SMTP_SERVER: &str = r#"
import ssl, sys, threading
from aiosmtpd.controller import Controller

class Keep:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[4], "ab") as out:
            out.write(b"TLS=" + str(session.ssl is not None).encode() + b"\n")
            out.write(envelope.content + b"\n.\n")
        return "250 OK"

context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(sys.argv[2], sys.argv[3])
controller = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]),
                        tls_context=context, require_starttls=True)
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../end2end/.venv/bin/python");
    let ok = venv.exists()
        && Command::new(&venv)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(venv);
    }
    assert!(
        !require_everything(),
        "aiosmtpd is not installed in end2end/.venv but VANTAGE_REQUIRE_ALL=1"
    );
    eprintln!("SKIPPED: aiosmtpd is not in end2end/.venv (scripts/test installs it)");
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_out_over_starttls_to_a_real_smtp_server() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key_pem).unwrap();
    let mailbox = dir.path().join("mailbox");
    let port = free_port();
    let mut smtp = KillOnDrop(
        Command::new(python)
            .args(["-c", SMTP_SERVER, &port.to_string()])
            .arg(dir.path().join("cert.pem"))
            .arg(dir.path().join("key.pem"))
            .arg(&mailbox)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd"),
    );
    let mut ready = String::new();
    BufReader::new(smtp.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");

    let server = Server::start_with(&["--notify-allow-loopback"], None);
    let (http, csrf) = signed_in(&server).await;
    let settings = json!({"host": "127.0.0.1", "port": port, "security": "starttls",
        "password": "smtp-password-secret", "from": "vantage@example.com",
        "to": ["oncall@example.com"], "ca_pem": cert_pem});
    let res = post_json(
        &http,
        server.path("/api/v1/notification-channels"),
        Some(&csrf),
        &json!({"name": "mail", "kind": "email", "settings": settings}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let channel: serde_json::Value = res.json().await.unwrap();
    assert!(
        !channel.to_string().contains("smtp-password-secret"),
        "the password is masked"
    );
    let test = test_channel(&server, &http, &csrf, &channel["id"]).await;
    let mail = std::fs::read_to_string(&mailbox).unwrap_or_default();
    // (A password without a username is kept and masked but not used: this receiver takes
    // no AUTH.) The message came over STARTTLS, which the receiver requires.
    assert!(test.ok, "the test mail failed: {test:?}");
    assert!(mail.starts_with("TLS=True"), "{mail}");
    assert!(
        mail.contains("Subject: [TEST:1] Test message from Vantage"),
        "{mail}"
    );
    assert!(mail.contains("To: oncall@example.com"), "{mail}");
    // Without the private CA the server's certificate is refused: nothing is sent in clear.
    let mut untrusted = settings.clone();
    untrusted.as_object_mut().unwrap().remove("ca_pem");
    let res = post_json(
        &http,
        server.path("/api/v1/notification-channels"),
        Some(&csrf),
        &json!({"name": "mail without the CA", "kind": "email", "settings": untrusted}),
    )
    .await;
    let channel: serde_json::Value = res.json().await.unwrap();
    let test = test_channel(&server, &http, &csrf, &channel["id"]).await;
    assert!(!test.ok, "an untrusted certificate is refused");
    assert_eq!(
        std::fs::read_to_string(&mailbox)
            .unwrap_or_default()
            .matches("TLS=")
            .count(),
        1
    );
    let _ = smtp.kill();
    let _ = smtp.wait();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
