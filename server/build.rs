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
        std::fs::write(&out, "pub const FRONTEND: &[File] = &[];\n").expect("OUT_DIR is writable");
        return;
    }
    // Every file of the bundle (scripts/build-frontend writes the directory afresh): the main
    // module's script and wasm, the chunks of the pages outside it, their loader and manifest,
    // each with its brotli form (`<file>.br`) when one was made.
    let pkg = site.join("pkg");
    println!("cargo:rerun-if-changed={}", pkg.display());
    let mut names: Vec<String> = std::fs::read_dir(&pkg)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| !name.ends_with(".br"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let code = if names.iter().any(|n| n == "frontend.js")
        && names.iter().any(|n| n == "frontend_bg.wasm")
    {
        let files: Vec<String> = names
            .iter()
            .map(|name| {
                let path = pkg.join(name);
                let brotli = pkg.join(format!("{name}.br"));
                println!("cargo:rerun-if-changed={}", path.display());
                println!("cargo:rerun-if-changed={}", brotli.display());
                let brotli = if brotli.is_file() {
                    format!("Some(include_bytes!({brotli:?}))")
                } else {
                    "None".to_owned()
                };
                format!(
                    "    File {{ name: {name:?}, bytes: include_bytes!({path:?}), brotli: {brotli} }},\n"
                )
            })
            .collect();
        format!("pub const FRONTEND: &[File] = &[\n{}];\n", files.concat())
    } else {
        println!(
            "cargo:warning=no WASM bundle in {}: the dashboard will not hydrate (run scripts/build-frontend)",
            site.display()
        );
        "pub const FRONTEND: &[File] = &[];\n".to_owned()
    };
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
