//! `vantage-agent`: for now it reports its version and help; the stream client follows.
#![forbid(unsafe_code)]

use clap::Parser;

/// The Vantage agent: collects host metrics and streams them to a Vantage server.
#[derive(Parser)]
#[command(name = "vantage-agent", version, about)]
struct Cli {
    /// Where the host's /proc is mounted (set when running in a container).
    #[arg(long, env = "VANTAGE_PROC_ROOT", default_value = "/proc")]
    proc_root: std::path::PathBuf,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Until the stream client exists, a one-off collection shows that this host is readable.
    match agent::collect::HostCollector::new(&cli.proc_root) {
        Ok(_) => {
            eprintln!(
                "vantage-agent {}: this build can collect from {} but cannot stream to a server yet.",
                env!("CARGO_PKG_VERSION"),
                cli.proc_root.display()
            );
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("vantage-agent: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
