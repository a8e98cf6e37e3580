//! `vantage-bindgen IN.wasm OUT_DIR`: writes the dashboard's bundle (`frontend.js` and
//! `frontend_bg.wasm`, `--target web`, no TypeScript, without the name and producers
//! sections) from the compiled `frontend` crate, byte for byte as `wasm-bindgen` of the same
//! version does.
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [input, out_dir] => match bundle(input, out_dir) {
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

fn bundle(input: &str, out_dir: &str) -> anyhow::Result<()> {
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(input)
        .web(true)?
        .typescript(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        // The CLI's default: `init()` without an argument finds the wasm beside the script.
        .omit_default_module_path(false)
        .out_name("frontend");
    bindgen.generate(out_dir)
}
