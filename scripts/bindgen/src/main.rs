//! `vantage-bindgen IN.wasm OUT_DIR`: writes the dashboard's bundle from the compiled
//! `frontend` crate (linked with `--emit-relocs`, `.cargo/config.toml`):
//! 1. splits it at its lazy-loading points (Leptos' `#[lazy_route]` pages), as
//!    `wasm-split-cli` does: the chunks (`<name>.wasm`), their loader (`__wasm_split.js`) and
//!    which chunks each point needs (`__wasm_split_manifest.json`); the chunks without their
//!    custom sections (names, relocations: more than half their size);
//! 2. runs wasm-bindgen (`--target web`, no TypeScript, without the name and producers
//!    sections, the linker's exports kept for the chunks) on what stays in the main module:
//!    `frontend.js` and `frontend_bg.wasm`.
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [input, out_dir] => match bundle(Path::new(input), Path::new(out_dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vantage-bindgen: could not bundle {input}: {e:#}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: vantage-bindgen IN.wasm OUT_DIR");
            ExitCode::from(2)
        }
    }
}

fn bundle(input: &Path, out_dir: &Path) -> anyhow::Result<()> {
    let wasm = std::fs::read(input)?;
    std::fs::create_dir_all(out_dir)?;
    let main = out_dir.join("frontend_split.wasm");
    let split = wasm_split_cli_support::transform({
        let mut options = wasm_split_cli_support::Options::new(&wasm);
        options.output_dir = out_dir;
        options.main_out_path = &main;
        // The chunks' loader imports the main module's script by this path, the page's
        // script by its own: both name the same file, beside each other.
        options.main_module = "./frontend.js";
        options.link_name = "./__wasm_split.js";
        options
    })
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    for chunk in &split.split_modules {
        let bytes = std::fs::read(chunk)?;
        std::fs::write(chunk, without_custom_sections(&bytes)?)?;
    }
    let mut manifest: Vec<_> = split.prefetch_map.iter().collect();
    manifest.sort();
    std::fs::write(
        out_dir.join("__wasm_split_manifest.json"),
        manifest_json(&manifest),
    )?;

    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&main)
        .web(true)?
        .typescript(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .keep_lld_exports(true)
        .demangle(false)
        // The CLI's default: `init()` without an argument finds the wasm beside the script.
        .omit_default_module_path(false)
        .out_name("frontend");
    bindgen.generate(out_dir)?;
    std::fs::remove_file(&main)?;
    Ok(())
}

/// `{"point": ["chunk", …], …}`, the form Leptos reads.
fn manifest_json(entries: &[(&String, &Vec<String>)]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let body: Vec<String> = entries
        .iter()
        .map(|(point, chunks)| {
            let chunks: Vec<String> = chunks.iter().map(|c| quote(c)).collect();
            format!("{}:[{}]", quote(point), chunks.join(","))
        })
        .collect();
    format!("{{{}}}\n", body.join(","))
}

/// A WASM module without its custom sections (id 0), the others as they are.
fn without_custom_sections(wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(wasm.starts_with(b"\0asm"), "not a WASM module");
    let mut out = wasm[..8].to_vec();
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, body) = uleb128(wasm, at + 1)?;
        let end = body
            .checked_add(size)
            .filter(|&end| end <= wasm.len())
            .ok_or_else(|| anyhow::anyhow!("a section runs past the end"))?;
        if id != 0 {
            out.extend_from_slice(&wasm[at..end]);
        }
        at = end;
    }
    Ok(out)
}

/// An unsigned LEB128 at `at`: its value and where what follows starts.
fn uleb128(bytes: &[u8], mut at: usize) -> anyhow::Result<(usize, usize)> {
    let (mut value, mut shift) = (0usize, 0u32);
    loop {
        let byte = *bytes
            .get(at)
            .ok_or_else(|| anyhow::anyhow!("a section size runs past the end"))?;
        at += 1;
        anyhow::ensure!(shift < 35, "a section size is too long");
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, at));
        }
        shift += 7;
    }
}
