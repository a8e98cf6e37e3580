//! Embeds the dashboard's WASM bundle (built by `scripts/build-frontend`) when it exists, so
//! the `vantage` binary is self-contained. Without it, pages are served without hydration.
//! `VANTAGE_EMBED_SITE=0` builds without a bundle on purpose (`scripts/run` does, and passes
//! `--site-dir` instead, so the server need not wait for the WASM build).
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let site = std::env::var("VANTAGE_SITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../target/site"));
    println!("cargo:rerun-if-env-changed=VANTAGE_SITE_DIR");
    println!("cargo:rerun-if-env-changed=VANTAGE_EMBED_SITE");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("frontend_assets.rs");
    if std::env::var("VANTAGE_EMBED_SITE").as_deref() == Ok("0") {
        std::fs::write(&out, "pub const FRONTEND: Option<Files> = None;\n")
            .expect("OUT_DIR is writable");
        return;
    }
    let file = |name: &str| {
        let path = site.join("pkg").join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        path.is_file().then_some(path)
    };
    // The brotli forms (`<file>.br`, made by scripts/build-frontend) go in when present.
    let optional = |path: Option<PathBuf>| match path {
        Some(p) => format!("Some(include_bytes!({p:?}))"),
        None => "None".to_owned(),
    };
    let code = if let (Some(js), Some(wasm)) = (file("frontend.js"), file("frontend_bg.wasm")) {
        format!(
            "pub const FRONTEND: Option<Files> = Some(Files {{ js: include_bytes!({js:?}), wasm: include_bytes!({wasm:?}), js_br: {}, wasm_br: {} }});\n",
            optional(file("frontend.js.br")),
            optional(file("frontend_bg.wasm.br")),
        )
    } else {
        println!(
            "cargo:warning=no WASM bundle in {}: the dashboard will not hydrate (run scripts/build-frontend)",
            site.display()
        );
        "pub const FRONTEND: Option<Files> = None;\n".to_owned()
    };
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
