//! Generates the protocol code. `protoc` comes from the protoc-bin-vendored crate, so the
//! build needs nothing installed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PROTOC", protoc)
    };
    tonic_prost_build::configure()
        .build_client(std::env::var("CARGO_FEATURE_CLIENT").is_ok())
        .build_server(std::env::var("CARGO_FEATURE_SERVER").is_ok())
        // The rpc `Connect` would clash with the generated `connect` constructor; clients are
        // built with `AgentServiceClient::new(channel)` instead.
        .build_transport(false)
        .codec_path("crate::codec::LeanCodec")
        .compile_protos(&["proto/vantage/agent/v1/agent.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto/vantage/agent/v1/agent.proto");
    Ok(())
}
